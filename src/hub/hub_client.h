// HubClient: the gateway's view of the upstream Hub for file downloads.
//
// fileMeta() learns a file's identity the way a Hub client does (hub-protocol.md §4): a HEAD of
// /resolve, following same-origin redirects (the Hub's 307 to /api/resolve-cache, renamed repos)
// and stopping at the first cross-origin redirect (the signed CDN URL of an LFS/Xet file), whose
// headers carry the metadata. Xet hints are never requested (no Xet Accept) and never copied out:
// only an allowlist of headers survives into FileMeta / UpstreamReply.
//
// HubFillSource fetches a file's bytes for a FillSession: GET of the CDN URL (never with
// credentials) or of the Hub URL at the commit (with credentials), Range-resumable, re-resolving
// the signed URL once when the CDN says it expired.
//
// `upstream_auth` arguments are the Authorization value to send to the Hub for this caller
// ("" = anonymous), as auth::Authenticator resolved it (caller token, key credential or the
// gateway's default token); it is sent only to the upstream's own origin, never to a CDN.
//
// Thread-safety: HubClient is immutable after construction and safe from any strand.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/error.h"
#include "cache/fill_session.h"
#include "cache/index.h"
#include "hub/repo_path.h"
#include "hub/upstream_gate.h"
#include "upstream/client.h"
#include "upstream/url.h"

namespace hubgate::hub {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HubConfig {
  upstream::Url upstream;
  std::vector<std::string> redirect_allow_hosts;
  int max_redirects = 5;
  // Let hops off the upstream's own host (CDN redirects) reach loopback, private and link-local
  // addresses (hub/redirect_policy.h); off by default, for tests and internal mirrors.
  bool allow_private_addresses = false;
};

// What the Hub says about one file at one commit.
struct FileMeta {
  std::string commit;
  cache::BlobKey blob;  // sha256 for LFS/Xet files, git sha1 for regular files
  std::uint64_t size = 0;
  std::string etag;  // as clients see it, quoted: "<hex>"
  bool lfs = false;
  upstream::Url body_url;  // where the bytes are fetched
  HeaderList headers;      // headers to replay to clients (X-Repo-Commit, ETag, X-Linked-*, ...)
  bool authenticated = false;  // the metadata request carried credentials
};

// An upstream answer relayed to the client as is (errors: 401, 403 GatedRepo, 404 ...).
struct UpstreamReply {
  int status = 502;
  HeaderList headers;  // allowlisted: X-Error-Code, X-Error-Message, X-Repo-Commit, ...
  std::string body;
};

using MetaOutcome = std::variant<FileMeta, UpstreamReply>;

class HubClient {
 public:
  HubClient(upstream::Client& client, HubConfig config, UpstreamGate& gate);

  // One API call on the Hub's own origin (credentials allowed), following same-origin redirects
  // (renamed repos), body read whole (up to 64 MiB). Checks the gate first and records a 429's
  // back-off. The answer's headers are the relayable ones plus Link, X-Total-Count and ETag.
  // Errors: as send(), plus the gate's (offline: Unavailable, backing off: ResourceExhausted).
  boost::asio::awaitable<Result<UpstreamReply>> api(boost::beast::http::verb method,
                                                    std::string target, std::string body,
                                                    std::string content_type,
                                                    const std::string& upstream_auth) const;
  UpstreamGate& gate() const { return gate_; }

  // Errors: Unavailable / Timeout when the Hub cannot be reached or answers something unusable
  // (the context says what), Forbidden when a redirect leads off the allowlist.
  boost::asio::awaitable<Result<MetaOutcome>> fileMeta(const FileRef& file,
                                                       const std::string& upstream_auth) const;
  // A FillSource for `meta`, fetching with `upstream_auth` where credentials may go.
  std::unique_ptr<cache::FillSource> fillSource(FileRef file, FileMeta meta,
                                                std::string upstream_auth) const;
  const HubConfig& config() const { return config_; }
  upstream::Client& client() const { return client_; }

 private:
  upstream::Client& client_;
  HubConfig config_;
  UpstreamGate& gate_;
};

// Headers relayed from an upstream error answer to the client (hub-protocol.md §9); the Hub's
// X-Request-Id is renamed X-Hub-Request-Id (X-Request-Id is the gateway's own).
HeaderList relayedHeaders(const boost::beast::http::fields& fields);
// Parses a (possibly weak, quoted) entity tag into bare hex, or "" when it is not one.
std::string etagHex(std::string_view etag);

}  // namespace hubgate::hub
