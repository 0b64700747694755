#include "router/admin.h"

#include <nlohmann/json.hpp>

#include "base/hash.h"

namespace hubgate::router {
namespace bhttp = boost::beast::http;
using nlohmann::json;

namespace {

http::Response jsonResponse(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = body.dump();
  r.route = "admin";
  return r;
}

std::string header(const http::Request& req, bhttp::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string() : std::string(it->value());
}

}  // namespace

http::Response jsonError(int status, const std::string& code, const std::string& message) {
  http::Response r = jsonResponse(status, json{{"error", message}});
  if (!code.empty()) r.headers.emplace_back("X-Error-Code", code);
  r.headers.emplace_back("X-Error-Message", message);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"hubgate\"");
  return r;
}

http::Response AdminApi::handle(const http::Request& req) {
  if (auto denied = auth_.checkAdmin(header(req, bhttp::field::authorization))) {
    auto r = jsonError(denied->status, denied->code, denied->message);
    r.route = "admin";
    return r;
  }
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/admin/stats" && req.method() == bhttp::verb::get) {
    auto st = index_.stats();
    if (!st) return jsonError(500, "Internal", st.error().context);
    return jsonResponse(200, json{{"blobs", st->blobs},
                                  {"blob_bytes", st->blob_bytes},
                                  {"files", st->files},
                                  {"answers", st->answers},
                                  {"keys_active", st->keys_active}});
  }
  if (path == "/admin/keys" || path.starts_with("/admin/keys/")) return keys(req);
  if (space_ && jobs_) {
    if (path == "/admin/cache" || path.starts_with("/admin/cache/") || path == "/admin/pins" ||
        path.starts_with("/admin/pins/")) {
      return cacheRoutes(req, path);
    }
    if (path == "/admin/prefetch" || path == "/admin/verify" || path == "/admin/gc" ||
        path == "/admin/jobs" || path.starts_with("/admin/jobs/")) {
      return jobRoutes(req, path);
    }
  }
  if (path.starts_with("/admin/scan/") && req.method() == bhttp::verb::get) {
    // The stored scan verdict of a blob: /admin/scan/<sha256> or /admin/scan/<git sha1>.
    std::string digest(path.substr(std::string_view("/admin/scan/").size()));
    cache::BlobKey key;
    if (isHex(digest, 64)) {
      key = cache::BlobKey{DigestKind::Sha256, digest};
    } else if (isHex(digest, 40)) {
      key = cache::BlobKey{DigestKind::GitSha1, digest};
    } else {
      return jsonError(400, "BadRequest", "expected a sha256 (64 hex) or git sha1 (40 hex)");
    }
    auto rec = index_.findVerdict(key);
    if (!rec) return jsonError(500, "Internal", rec.error().context);
    if (!*rec) return jsonError(404, "NotScanned", "no verdict stored for " + key.str());
    json findings = json::parse((*rec)->findings, nullptr, false);
    if (findings.is_discarded()) findings = json::array();
    return jsonResponse(200, json{{"blob", key.str()},
                                  {"verdict", (*rec)->verdict},
                                  {"format", (*rec)->format},
                                  {"summary", (*rec)->summary},
                                  {"findings", findings},
                                  {"scanner_version", (*rec)->scanner_version},
                                  {"scanned_at", (*rec)->scanned_at}});
  }
  auto r = jsonError(404, "NotFound", "no such admin route: " + std::string(path));
  r.route = "admin";
  return r;
}

http::Response AdminApi::keys(const http::Request& req) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/admin/keys") {
    if (req.method() == bhttp::verb::get) {
      auto all = auth_.keys().list();
      if (!all) return jsonError(500, "Internal", all.error().context);
      json out = json::array();
      for (const auto& k : *all) out.push_back(auth::keyToJson(k));
      return jsonResponse(200, out);
    }
    if (req.method() == bhttp::verb::post) return createKey(req);
    return jsonError(405, "MethodNotAllowed", "use GET or POST on /admin/keys");
  }
  std::string id(path.substr(std::string_view("/admin/keys/").size()));
  if (req.method() != bhttp::verb::delete_) {
    return jsonError(405, "MethodNotAllowed", "use DELETE on /admin/keys/{id}");
  }
  if (auto done = auth_.keys().revoke(id); !done) {
    if (done.error().code == ErrorCode::NotFound) {
      return jsonError(404, "KeyNotFound", done.error().context);
    }
    return jsonError(500, "Internal", done.error().context);
  }
  http::Response r;
  r.status = 204;
  r.route = "admin";
  return r;
}

http::Response AdminApi::createKey(const http::Request& req) {
  json body = json::parse(req.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return jsonError(400, "BadRequest", "expected a JSON object {\"name\": ..., \"credential\": ..., "
                                        "\"allow\": [...], \"deny\": [...]}");
  }
  auto text = [&](const char* k) -> std::optional<std::string> {
    if (!body.contains(k) || body[k].is_null()) return std::string();
    if (!body[k].is_string()) return std::nullopt;
    return body[k].get<std::string>();
  };
  auto list = [&](const char* k) -> std::optional<std::vector<std::string>> {
    std::vector<std::string> out;
    if (!body.contains(k) || body[k].is_null()) return out;
    if (!body[k].is_array()) return std::nullopt;
    for (const auto& e : body[k]) {
      if (!e.is_string()) return std::nullopt;
      out.push_back(e.get<std::string>());
    }
    return out;
  };
  auto name = text("name");
  auto credential = text("credential");
  auto allow = list("allow");
  auto deny = list("deny");
  if (!name || !credential || !allow || !deny) {
    return jsonError(400, "BadRequest",
                     "name and credential must be strings, allow and deny arrays of strings");
  }
  if (!credential->empty() && !auth_.hasCredential(*credential)) {
    return jsonError(400, "UnknownCredential",
                     "no credential named '" + *credential + "' is configured on this gateway");
  }
  auto made = auth_.keys().create(*name, *credential, *allow, *deny);
  if (!made) {
    int status = made.error().code == ErrorCode::InvalidArgument ? 400 : 500;
    return jsonError(status, status == 400 ? "BadRequest" : "Internal", made.error().context);
  }
  json out = auth::keyToJson(made->record);
  out["key"] = made->key;
  return jsonResponse(201, out);
}

namespace {

json jobToJson(const cache::JobRecord& j) {
  json spec = json::parse(j.spec, nullptr, false);
  json progress = json::parse(j.progress, nullptr, false);
  return json{{"id", j.id},
              {"kind", j.kind},
              {"state", j.state},
              {"spec", spec.is_discarded() ? json::object() : spec},
              {"progress", progress.is_discarded() ? json::object() : progress},
              {"created_at", j.created_at},
              {"updated_at", j.updated_at}};
}

// "{type}/{org}/{name}" (or "{type}/{name}") -> (type, repo).
std::optional<std::pair<std::string, std::string>> typeAndRepo(std::string_view rest) {
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string type(rest.substr(0, slash));
  std::string repo(rest.substr(slash + 1));
  if ((type != "model" && type != "dataset" && type != "space") || repo.empty()) return std::nullopt;
  return std::pair{type, repo};
}

std::optional<cache::BlobKey> blobKeyOf(std::string_view text) {
  if (text.starts_with("sha256:")) text.remove_prefix(7);
  if (text.starts_with("sha1:")) text.remove_prefix(5);
  std::string digest(text);
  if (isHex(digest, 64)) return cache::BlobKey{DigestKind::Sha256, digest};
  if (isHex(digest, 40)) return cache::BlobKey{DigestKind::GitSha1, digest};
  return std::nullopt;
}

http::Response noContent() {
  http::Response r;
  r.status = 204;
  r.route = "admin";
  return r;
}

}  // namespace

http::Response AdminApi::cacheRoutes(const http::Request& req, std::string_view path) {
  const auto method = req.method();
  if (path == "/admin/cache" && method == bhttp::verb::get) {
    auto st = space_->stats();
    auto idx = index_.stats();
    if (!idx) return jsonError(500, "Internal", idx.error().context);
    auto pins = index_.listPins();
    if (!pins) return jsonError(500, "Internal", pins.error().context);
    return jsonResponse(200, json{{"bytes", st.bytes},
                                  {"objects", st.objects},
                                  {"max_bytes", st.max_bytes},
                                  {"min_free_bytes", st.min_free_bytes},
                                  {"reserved_bytes", st.reserved_bytes},
                                  {"fills_reserved", st.fills_reserved},
                                  {"pinned_bytes", st.pinned_bytes},
                                  {"pinned_objects", st.pinned_objects},
                                  {"leased_objects", st.leased_objects},
                                  {"disk_total", st.disk.total},
                                  {"disk_available", st.disk.available},
                                  {"files", idx->files},
                                  {"answers", idx->answers},
                                  {"pinned_repos", pins->size()}});
  }
  if (path == "/admin/cache/repos" && method == bhttp::verb::get) {
    auto repos = index_.repoUsage();
    if (!repos) return jsonError(500, "Internal", repos.error().context);
    json out = json::array();
    for (const auto& r : *repos) {
      out.push_back(json{{"type", r.repo_type}, {"repo", r.repo}, {"files", r.files},
                         {"blobs", r.blobs}, {"bytes", r.bytes}, {"last_access", r.last_access},
                         {"pinned", r.pinned}});
    }
    return jsonResponse(200, out);
  }
  if (path.starts_with("/admin/cache/repos/") && method == bhttp::verb::delete_) {
    auto tr = typeAndRepo(path.substr(std::string_view("/admin/cache/repos/").size()));
    if (!tr) return jsonError(400, "BadRequest", "expected /admin/cache/repos/{model|dataset|space}/{repo}");
    auto blobs = index_.blobsOfRepo(tr->first, tr->second);
    if (!blobs) return jsonError(500, "Internal", blobs.error().context);
    std::uint64_t removed = 0;
    for (const auto& k : *blobs) {
      auto r = space_->remove(k);
      if (!r) return jsonError(500, "Internal", r.error().context);
      removed += *r ? 1 : 0;
    }
    return jsonResponse(200, json{{"type", tr->first}, {"repo", tr->second}, {"blobs_removed", removed}});
  }
  if (path.starts_with("/admin/cache/blobs/") && method == bhttp::verb::delete_) {
    auto key = blobKeyOf(path.substr(std::string_view("/admin/cache/blobs/").size()));
    if (!key) return jsonError(400, "BadRequest", "expected a sha256 (64 hex) or git sha1 (40 hex)");
    auto r = space_->remove(*key);
    if (!r) return jsonError(500, "Internal", r.error().context);
    if (!*r) return jsonError(404, "NotCached", key->str() + " is not in the cache");
    return noContent();
  }
  if (path == "/admin/pins" && method == bhttp::verb::get) {
    auto pins = index_.listPins();
    if (!pins) return jsonError(500, "Internal", pins.error().context);
    json out = json::array();
    for (const auto& p : *pins) {
      out.push_back(json{{"type", p.repo_type}, {"repo", p.repo}, {"created_at", p.created_at}});
    }
    return jsonResponse(200, out);
  }
  if (path == "/admin/pins" && (method == bhttp::verb::post || method == bhttp::verb::put)) {
    json body = json::parse(req.body(), nullptr, false);
    if (!body.is_object() || !body.contains("repo") || !body["repo"].is_string()) {
      return jsonError(400, "BadRequest", "expected {\"type\": \"model\", \"repo\": \"org/name\"}");
    }
    std::string type = body.value("type", std::string("model"));
    auto tr = typeAndRepo(type + "/" + body["repo"].get<std::string>());
    if (!tr) return jsonError(400, "BadRequest", "type: expected model, dataset or space; repo: non-empty");
    if (auto r = space_->pin(tr->first, tr->second); !r) return jsonError(500, "Internal", r.error().context);
    return jsonResponse(201, json{{"type", tr->first}, {"repo", tr->second}, {"pinned", true}});
  }
  if (path.starts_with("/admin/pins/") && method == bhttp::verb::delete_) {
    auto tr = typeAndRepo(path.substr(std::string_view("/admin/pins/").size()));
    if (!tr) return jsonError(400, "BadRequest", "expected /admin/pins/{model|dataset|space}/{repo}");
    auto r = space_->unpin(tr->first, tr->second);
    if (!r) return jsonError(500, "Internal", r.error().context);
    if (!*r) return jsonError(404, "NotPinned", tr->second + " is not pinned");
    return noContent();
  }
  return jsonError(405, "MethodNotAllowed", "unsupported method for " + std::string(path));
}

http::Response AdminApi::jobRoutes(const http::Request& req, std::string_view path) {
  const auto method = req.method();
  auto started = [](Result<cache::JobRecord> job) {
    if (!job) {
      int status = job.error().code == ErrorCode::InvalidArgument ? 400 : 500;
      return jsonError(status, status == 400 ? "BadRequest" : "Internal", job.error().context);
    }
    auto r = jsonResponse(202, jobToJson(*job));
    r.headers.emplace_back("Location", "/admin/jobs/" + job->id);
    return r;
  };
  if (path == "/admin/prefetch" && method == bhttp::verb::post) {
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) return jsonError(400, "BadRequest", "expected a JSON object");
    auto spec = ops::PrefetchSpec::fromJson(body);
    if (!spec) return jsonError(400, "BadRequest", spec.error().context);
    return started(jobs_->startPrefetch(*spec));
  }
  if (path == "/admin/verify" && method == bhttp::verb::post) return started(jobs_->startVerify());
  if (path == "/admin/gc" && method == bhttp::verb::post) return started(jobs_->startGc());
  if (path == "/admin/jobs" && method == bhttp::verb::get) {
    auto all = jobs_->list();
    if (!all) return jsonError(500, "Internal", all.error().context);
    json out = json::array();
    for (const auto& j : *all) out.push_back(jobToJson(j));
    return jsonResponse(200, out);
  }
  if (path.starts_with("/admin/jobs/")) {
    std::string id(path.substr(std::string_view("/admin/jobs/").size()));
    if (method == bhttp::verb::get) {
      auto j = jobs_->get(id);
      if (!j) return jsonError(500, "Internal", j.error().context);
      if (!*j) return jsonError(404, "JobNotFound", "no job " + id);
      return jsonResponse(200, jobToJson(**j));
    }
    if (method == bhttp::verb::delete_) {
      auto cancelled = jobs_->cancel(id);
      if (!cancelled) return jsonError(409, "JobNotCancellable", cancelled.error().context);
      if (!*cancelled) return jsonError(404, "JobNotFound", "no running job " + id);
      return jsonResponse(202, json{{"id", id}, {"cancel", true}});
    }
  }
  return jsonError(405, "MethodNotAllowed", "unsupported method for " + std::string(path));
}

}  // namespace hubgate::router
