#include "cli/cache_command.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

namespace hubgate::cli {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using nlohmann::json;

struct Answer {
  int status = 0;
  std::string body;
  std::string error;  // transport problem: no answer at all
};

// One request to the admin API (plain HTTP: the admin listener is local or behind a proxy).
Answer call(const CacheCommandArgs& a, bhttp::verb method, const std::string& path,
            const std::string& body = {}) {
  Answer out;
  std::string rest = a.url;
  if (rest.starts_with("http://")) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  std::string host = rest;
  std::string port = "80";
  if (auto colon = rest.rfind(':'); colon != std::string::npos && rest.find(']', colon) == std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    asio::ip::tcp::socket socket(ioc);
    asio::connect(socket, resolver.resolve(host, port));
    bhttp::request<bhttp::string_body> req{method, path, 11};
    req.set(bhttp::field::host, rest);
    req.set(bhttp::field::user_agent, "hubgate-cli");
    if (!a.admin_key.empty()) req.set(bhttp::field::authorization, "Bearer " + a.admin_key);
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    bhttp::write(socket, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buf, res);
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    boost::system::error_code ec;
    socket.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    out.error = "cannot reach the gateway's admin API at " + a.url + ": " + e.what();
  }
  return out;
}

std::string humanBytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::uint64_t num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number_unsigned() ? j[key].get<std::uint64_t>()
         : j.contains(key) && j[key].is_number_integer() ? static_cast<std::uint64_t>(std::max<std::int64_t>(0, j[key].get<std::int64_t>()))
                                                         : 0;
}

// Prints a refusal and returns the exit status for it.
int refused(const Answer& r, std::FILE* err) {
  if (!r.error.empty()) {
    std::fprintf(err, "hubgate cache: %s\n", r.error.c_str());
    return 2;
  }
  auto j = json::parse(r.body, nullptr, false);
  std::string msg = j.is_object() && j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>() : r.body;
  std::fprintf(err, "hubgate cache: the gateway answered %d: %s\n", r.status, msg.c_str());
  return 1;
}

std::string progressLine(const json& job) {
  const json& p = job.contains("progress") ? job["progress"] : json::object();
  std::string kind = job.value("kind", std::string("job"));
  std::string line = kind + " " + job.value("id", std::string("?")) + " " + job.value("state", std::string("?"));
  if (kind == "prefetch") {
    line += ": " + std::to_string(num(p, "files_done")) + "/" + std::to_string(num(p, "files_total")) +
            " files (" + std::to_string(num(p, "files_cached")) + " already cached, " +
            std::to_string(num(p, "files_failed")) + " failed), " + humanBytes(num(p, "bytes_done"));
    if (p.contains("current") && p["current"].is_string()) {
      line += ", now " + p["current"].get<std::string>() + " (" + humanBytes(num(p, "current_bytes")) + ")";
    }
  } else if (kind == "verify") {
    line += ": " + std::to_string(num(p, "blobs_done")) + "/" + std::to_string(num(p, "blobs_total")) +
            " blobs, " + humanBytes(num(p, "bytes_done")) + " of " + humanBytes(num(p, "bytes_total")) +
            ", " + std::to_string(p.contains("corrupt") && p["corrupt"].is_array() ? p["corrupt"].size() : 0) +
            " corrupt";
  } else if (kind == "gc") {
    line += ": evicted " + std::to_string(num(p, "evicted_blobs")) + " blobs (" +
            humanBytes(num(p, "evicted_bytes")) + "), removed " + std::to_string(num(p, "orphans_removed")) +
            " orphan files";
  }
  if (p.contains("error") && p["error"].is_string()) line += "; error: " + p["error"].get<std::string>();
  return line;
}

// Follows a job until it ends, printing its progress whenever it changes.
int follow(const CacheCommandArgs& a, json job, std::FILE* out, std::FILE* err) {
  std::string last;
  for (;;) {
    std::string line = progressLine(job);
    if (line != last) {
      std::fprintf(a.json ? err : out, "%s\n", line.c_str());
      std::fflush(a.json ? err : out);
      last = line;
    }
    std::string state = job.value("state", std::string());
    if (state != "queued" && state != "running") {
      if (a.json) std::fprintf(out, "%s\n", job.dump(2).c_str());
      if (job.contains("progress") && job["progress"].contains("errors") && job["progress"]["errors"].is_array()) {
        for (const auto& e : job["progress"]["errors"]) {
          std::fprintf(err, "  %s: %s\n", e.value("path", std::string()).c_str(), e.value("error", std::string()).c_str());
        }
      }
      return state == "done" ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(a.poll_ms));
    auto r = call(a, bhttp::verb::get, "/admin/jobs/" + job.value("id", std::string()));
    if (r.status != 200) return refused(r, err);
    job = json::parse(r.body, nullptr, false);
    if (!job.is_object()) {
      std::fprintf(err, "hubgate cache: unreadable job answer\n");
      return 2;
    }
  }
}

int startJob(const CacheCommandArgs& a, const std::string& path, const json& body, std::FILE* out,
             std::FILE* err) {
  auto r = call(a, bhttp::verb::post, path, body.dump());
  if (r.status != 202) return refused(r, err);
  auto job = json::parse(r.body, nullptr, false);
  if (!job.is_object()) {
    std::fprintf(err, "hubgate cache: unreadable job answer\n");
    return 2;
  }
  if (a.no_wait) {
    std::fprintf(out, "%s\n", a.json ? job.dump(2).c_str() : job.value("id", std::string()).c_str());
    return 0;
  }
  return follow(a, job, out, err);
}

}  // namespace

int runCacheCommand(const CacheCommandArgs& a, std::FILE* out, std::FILE* err) {
  const std::string& cmd = a.command;
  if (cmd == "stats") {
    auto r = call(a, bhttp::verb::get, "/admin/cache");
    if (r.status != 200) return refused(r, err);
    auto j = json::parse(r.body, nullptr, false);
    if (a.json || !j.is_object()) {
      std::fprintf(out, "%s\n", a.json ? j.dump(2).c_str() : r.body.c_str());
      return 0;
    }
    std::uint64_t max = num(j, "max_bytes");
    std::fprintf(out, "cached:    %s in %llu blobs (%llu files)\n", humanBytes(num(j, "bytes")).c_str(),
                 static_cast<unsigned long long>(num(j, "objects")), static_cast<unsigned long long>(num(j, "files")));
    std::fprintf(out, "quota:     %s\n", max ? humanBytes(max).c_str() : "none");
    std::fprintf(out, "filling:   %llu fills, %s reserved\n", static_cast<unsigned long long>(num(j, "fills_reserved")),
                 humanBytes(num(j, "reserved_bytes")).c_str());
    std::fprintf(out, "pinned:    %llu repos, %s in %llu blobs\n", static_cast<unsigned long long>(num(j, "pinned_repos")),
                 humanBytes(num(j, "pinned_bytes")).c_str(), static_cast<unsigned long long>(num(j, "pinned_objects")));
    std::fprintf(out, "disk:      %s free of %s (reserve %s)\n", humanBytes(num(j, "disk_available")).c_str(),
                 humanBytes(num(j, "disk_total")).c_str(), humanBytes(num(j, "min_free_bytes")).c_str());
    return 0;
  }
  if (cmd == "ls") {
    auto r = call(a, bhttp::verb::get, "/admin/cache/repos");
    if (r.status != 200) return refused(r, err);
    auto j = json::parse(r.body, nullptr, false);
    if (a.json || !j.is_array()) {
      std::fprintf(out, "%s\n", a.json ? j.dump(2).c_str() : r.body.c_str());
      return 0;
    }
    std::fprintf(out, "%-8s %-50s %7s %12s %s\n", "TYPE", "REPO", "FILES", "SIZE", "PINNED");
    for (const auto& e : j) {
      std::fprintf(out, "%-8s %-50s %7llu %12s %s\n", e.value("type", std::string()).c_str(),
                   e.value("repo", std::string()).c_str(), static_cast<unsigned long long>(num(e, "files")),
                   humanBytes(num(e, "bytes")).c_str(), e.value("pinned", false) ? "yes" : "");
    }
    return 0;
  }
  if (cmd == "pin") {
    auto r = call(a, bhttp::verb::post, "/admin/pins", json{{"type", a.type}, {"repo", a.repo}}.dump());
    if (r.status != 201) return refused(r, err);
    std::fprintf(out, "pinned %s %s\n", a.type.c_str(), a.repo.c_str());
    return 0;
  }
  if (cmd == "unpin") {
    auto r = call(a, bhttp::verb::delete_, "/admin/pins/" + a.type + "/" + a.repo);
    if (r.status != 204) return refused(r, err);
    std::fprintf(out, "unpinned %s %s\n", a.type.c_str(), a.repo.c_str());
    return 0;
  }
  if (cmd == "rm") {
    if (!a.blob.empty()) {
      auto r = call(a, bhttp::verb::delete_, "/admin/cache/blobs/" + a.blob);
      if (r.status != 204) return refused(r, err);
      std::fprintf(out, "removed %s\n", a.blob.c_str());
      return 0;
    }
    auto r = call(a, bhttp::verb::delete_, "/admin/cache/repos/" + a.type + "/" + a.repo);
    if (r.status != 200) return refused(r, err);
    auto j = json::parse(r.body, nullptr, false);
    std::fprintf(out, "removed %llu blobs of %s %s\n",
                 static_cast<unsigned long long>(j.is_object() ? num(j, "blobs_removed") : 0), a.type.c_str(),
                 a.repo.c_str());
    return 0;
  }
  if (cmd == "prefetch") {
    json body{{"type", a.type}, {"repo", a.repo}, {"revision", a.revision}, {"include", a.include},
              {"exclude", a.exclude}, {"pin", a.pin}};
    if (!a.credential.empty()) body["credential"] = a.credential;
    return startJob(a, "/admin/prefetch", body, out, err);
  }
  if (cmd == "verify") return startJob(a, "/admin/verify", json::object(), out, err);
  if (cmd == "gc") return startJob(a, "/admin/gc", json::object(), out, err);
  if (cmd == "jobs") {
    auto r = call(a, bhttp::verb::get, "/admin/jobs");
    if (r.status != 200) return refused(r, err);
    auto j = json::parse(r.body, nullptr, false);
    if (a.json || !j.is_array()) {
      std::fprintf(out, "%s\n", a.json ? j.dump(2).c_str() : r.body.c_str());
      return 0;
    }
    for (const auto& job : j) std::fprintf(out, "%s\n", progressLine(job).c_str());
    return 0;
  }
  if (cmd == "cancel") {
    auto r = call(a, bhttp::verb::delete_, "/admin/jobs/" + a.job_id);
    if (r.status != 202) return refused(r, err);
    std::fprintf(out, "cancelling %s\n", a.job_id.c_str());
    return 0;
  }
  std::fprintf(err, "hubgate cache: unknown command '%s'\n", cmd.c_str());
  return 2;
}

}  // namespace hubgate::cli
