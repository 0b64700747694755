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

}  // namespace hubgate::router
