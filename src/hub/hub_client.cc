#include "hub/hub_client.h"

#include <boost/beast/http/field.hpp>
#include <charconv>

#include "base/hash.h"
#include "hub/redirect_policy.h"

namespace hubgate::hub {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t kErrorBodyLimit = 64 * 1024;

std::string header(const bhttp::fields& f, std::string_view name) {
  auto it = f.find(name);
  return it == f.end() ? std::string() : std::string(it->value());
}

std::optional<std::uint64_t> parseU64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

bool isRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Builds FileMeta from the response that carries the metadata: a 200 from the Hub (regular
// files) or the cross-origin 3xx to the CDN (LFS/Xet files).
Result<FileMeta> metaFrom(const bhttp::fields& h, bool redirect, const upstream::Url& body_url) {
  FileMeta m;
  m.commit = lower(header(h, "X-Repo-Commit"));
  if (!isHex(m.commit, 40)) {
    return fail(ErrorCode::Unavailable, "upstream answer lacks a valid X-Repo-Commit header");
  }
  std::string linked_etag = header(h, "X-Linked-Etag");
  std::string linked_size = header(h, "X-Linked-Size");
  std::string etag = linked_etag.empty() ? header(h, "ETag") : linked_etag;
  std::string hex = lower(etagHex(etag));
  if (isHex(hex, 64)) {
    m.blob = cache::BlobKey{DigestKind::Sha256, hex};
  } else if (isHex(hex, 40)) {
    m.blob = cache::BlobKey{DigestKind::GitSha1, hex};
  } else {
    return fail(ErrorCode::Unavailable,
                "upstream answer has no usable content digest (ETag/X-Linked-Etag)");
  }
  std::optional<std::uint64_t> size;
  if (!linked_size.empty()) {
    size = parseU64(linked_size);
  } else if (!redirect) {
    size = parseU64(header(h, "Content-Length"));
  }
  if (!size) return fail(ErrorCode::Unavailable, "upstream answer has no usable file size");
  m.size = *size;
  m.etag = etag;
  m.lfs = !linked_etag.empty();
  m.body_url = body_url;
  m.headers.emplace_back("X-Repo-Commit", m.commit);
  m.headers.emplace_back("ETag", etag);
  if (!linked_etag.empty()) m.headers.emplace_back("X-Linked-Etag", linked_etag);
  if (!linked_size.empty()) m.headers.emplace_back("X-Linked-Size", linked_size);
  if (redirect) {
    // The bytes come from the CDN; the 302's own Content-Type describes its redirect text.
    m.headers.emplace_back("Content-Type", "application/octet-stream");
  } else {
    for (const char* name : {"Content-Type", "Content-Disposition"}) {
      if (auto v = header(h, name); !v.empty()) m.headers.emplace_back(name, v);
    }
  }
  return m;
}

// Wraps a 200 answer to a resumed request: discards the first `skip` body bytes.
class SkippingResponse final : public upstream::Response {
 public:
  SkippingResponse(std::unique_ptr<upstream::Response> inner, std::uint64_t skip)
      : inner_(std::move(inner)), skip_(skip) {}
  int status() const override { return inner_->status(); }
  const bhttp::fields& headers() const override { return inner_->headers(); }
  std::optional<std::uint64_t> contentLength() const override { return inner_->contentLength(); }
  asio::awaitable<Result<std::size_t>> read(std::span<std::byte> buf) override {
    while (skip_ > 0) {
      auto n = co_await inner_->read(buf.first(std::min<std::uint64_t>(buf.size(), skip_)));
      if (!n) co_return n;
      if (*n == 0) co_return fail(ErrorCode::Unavailable, "upstream body ended while resuming");
      skip_ -= *n;
    }
    co_return co_await inner_->read(buf);
  }
  asio::awaitable<Result<std::string>> readAll(std::size_t limit) override {
    co_return co_await inner_->readAll(limit);
  }

 private:
  std::unique_ptr<upstream::Response> inner_;
  std::uint64_t skip_;
};

class HubFillSource final : public cache::FillSource {
 public:
  HubFillSource(const HubClient& hub, FileRef file, FileMeta meta, std::string caller_auth)
      : hub_(hub), file_(std::move(file)), meta_(std::move(meta)), auth_(std::move(caller_auth)) {}

  asio::awaitable<Result<std::unique_ptr<upstream::Response>>> open(std::uint64_t offset) override {
    const auto& cfg = hub_.config();
    upstream::Url url = meta_.body_url;
    bool refreshed = false;
    // fileMeta() vetted the body URL; FileMeta is a plain value handed back by callers, so the
    // policy is applied again before the first byte goes out.
    if (!redirectAllowed(url, cfg.upstream, cfg.redirect_allow_hosts,
                         cfg.allow_private_addresses)) {
      co_return fail(ErrorCode::Forbidden,
                     "the file's body URL on " + url.scheme + "://" + url.host + " is not allowed");
    }
    for (int hop = 0; hop <= cfg.max_redirects + 1; ++hop) {
      upstream::Request req;
      req.method = bhttp::verb::get;
      req.url = url;
      // Off the upstream's own host (the CDN, also after a refresh): public addresses only.
      req.public_addresses_only =
          publicAddressesOnly(url, cfg.upstream, cfg.allow_private_addresses);
      req.headers.emplace_back("Accept-Encoding", "identity");
      if (offset > 0) req.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
      const std::string& auth = auth_;
      if (!auth.empty() && mayCarryCredentials(url, cfg.upstream)) {
        req.headers.emplace_back("Authorization", auth);
      }
      auto sent = co_await hub_.client().send(std::move(req));
      if (!sent) co_return std::unexpected(sent.error());
      auto resp = std::move(*sent);
      int st = resp->status();
      if (isRedirect(st)) {
        auto target = url.resolve(header(resp->headers(), "Location"));
        if (!target) co_return fail(ErrorCode::Unavailable, "upstream redirect without a usable Location");
        if (!redirectAllowed(*target, cfg.upstream, cfg.redirect_allow_hosts,
                             cfg.allow_private_addresses)) {
          co_return fail(ErrorCode::Forbidden, "upstream redirected to " + target->scheme + "://" +
                                                   target->host + ", which is not allowed");
        }
        url = *target;
        continue;
      }
      if ((st == 403 || st == 410) && !mayCarryCredentials(url, cfg.upstream) && !refreshed) {
        // A signed CDN URL expired: ask the Hub for a fresh one, once per open.
        refreshed = true;
        auto again = co_await hub_.fileMeta(file_, auth_);
        if (!again) co_return std::unexpected(again.error());
        auto* fresh = std::get_if<FileMeta>(&*again);
        if (!fresh || !(fresh->blob == meta_.blob)) {
          co_return fail(ErrorCode::Unavailable, "file changed upstream while it was being fetched");
        }
        // fileMeta() applied the redirect policy to the fresh URL; the next hop restricts it.
        meta_.body_url = fresh->body_url;
        url = fresh->body_url;
        continue;
      }
      if (st == 200) {
        if (auto cl = resp->contentLength(); cl && *cl != meta_.size) {
          co_return fail(ErrorCode::Corruption, "upstream body is " + std::to_string(*cl) +
                                                    " bytes, the Hub announced " +
                                                    std::to_string(meta_.size));
        }
        if (offset > 0) {
          co_return std::unique_ptr<upstream::Response>(
              std::make_unique<SkippingResponse>(std::move(resp), offset));
        }
        co_return resp;
      }
      if (st == 206 && offset > 0) {
        std::string cr = header(resp->headers(), "Content-Range");
        std::string want = "bytes " + std::to_string(offset) + "-";
        std::string total = "/" + std::to_string(meta_.size);
        if (cr.rfind(want, 0) != 0 || cr.size() < total.size() ||
            cr.compare(cr.size() - total.size(), total.size(), total) != 0) {
          co_return fail(ErrorCode::Unavailable, "upstream answered the resume with Content-Range '" +
                                                     cr + "'");
        }
        co_return resp;
      }
      co_return fail(ErrorCode::Unavailable, "upstream answered " + std::to_string(st) +
                                                 " when fetching " + url.redacted());
    }
    co_return fail(ErrorCode::Unavailable, "too many upstream redirects fetching the file body");
  }

 private:
  const HubClient& hub_;
  FileRef file_;
  FileMeta meta_;
  std::string auth_;
};

}  // namespace

std::string etagHex(std::string_view etag) {
  if (etag.starts_with("W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

HeaderList relayedHeaders(const bhttp::fields& fields) {
  static const char* kRelay[] = {"X-Error-Code",     "X-Error-Message", "X-Repo-Commit",
                                 "WWW-Authenticate", "Content-Type",    "Retry-After",
                                 "RateLimit",        "RateLimit-Policy", "X-Request-Id"};
  HeaderList out;
  for (const char* name : kRelay) {
    // X-Request-Id is the gateway's own (http::Server): the Hub's goes on as X-Hub-Request-Id.
    const std::string_view as = std::string_view(name) == "X-Request-Id" ? "X-Hub-Request-Id" : name;
    auto [it, end] = fields.equal_range(name);
    for (; it != end; ++it) out.emplace_back(std::string(as), std::string(it->value()));
  }
  return out;
}

HubClient::HubClient(upstream::Client& client, HubConfig config, UpstreamGate& gate)
    : client_(client), config_(std::move(config)), gate_(gate) {}

namespace {
void noteRateLimit(UpstreamGate& gate, const bhttp::fields& h) {
  UpstreamGate::HeaderList rate;
  for (const char* name : {"RateLimit", "RateLimit-Policy"}) {
    if (auto v = header(h, name); !v.empty()) rate.emplace_back(name, v);
  }
  gate.onRateLimited(retryDelay(header(h, "Retry-After"), header(h, "RateLimit")), std::move(rate));
}
}  // namespace

asio::awaitable<Result<UpstreamReply>> HubClient::api(bhttp::verb method, std::string target,
                                                      std::string body, std::string content_type,
                                                      const std::string& upstream_auth) const {
  if (auto blocked = gate_.blocked()) co_return std::unexpected(*blocked);
  auto first = config_.upstream.resolve(target);
  if (!first) co_return std::unexpected(first.error());
  upstream::Url url = *first;
  const std::string& auth = upstream_auth;
  for (int hop = 0; hop <= config_.max_redirects; ++hop) {
    upstream::Request req;
    req.method = method;
    req.url = url;
    req.headers.emplace_back("Accept-Encoding", "identity");
    req.headers.emplace_back("Accept", "application/json");
    if (!content_type.empty()) req.headers.emplace_back("Content-Type", content_type);
    if (!auth.empty() && mayCarryCredentials(url, config_.upstream)) {
      req.headers.emplace_back("Authorization", auth);
    }
    req.body = body;
    auto sent = co_await client_.send(std::move(req));
    if (!sent) co_return std::unexpected(sent.error());
    auto& resp = **sent;
    int st = resp.status();
    if (isRedirect(st)) {
      auto next = url.resolve(header(resp.headers(), "Location"));
      if (next && mayCarryCredentials(*next, config_.upstream) &&
          (method == bhttp::verb::get || st == 307 || st == 308)) {
        url = *next;
        continue;
      }
    }
    if (st == 429) noteRateLimit(gate_, resp.headers());
    UpstreamReply reply;
    reply.status = st;
    reply.headers = relayedHeaders(resp.headers());
    for (const char* name : {"Link", "X-Total-Count", "ETag", "Location"}) {
      if (auto v = header(resp.headers(), name); !v.empty()) reply.headers.emplace_back(name, v);
    }
    auto all = co_await resp.readAll(64 * 1024 * 1024);
    if (!all) co_return std::unexpected(all.error());
    reply.body = std::move(*all);
    co_return reply;
  }
  co_return fail(ErrorCode::Unavailable, "too many upstream redirects for " + target);
}

asio::awaitable<Result<MetaOutcome>> HubClient::fileMeta(const FileRef& file,
                                                         const std::string& upstream_auth) const {
  if (auto blocked = gate_.blocked()) co_return std::unexpected(*blocked);
  auto first = config_.upstream.resolve(resolveTargetFor(file));
  if (!first) co_return std::unexpected(first.error());
  upstream::Url url = *first;
  const std::string& auth = upstream_auth;
  for (int hop = 0; hop <= config_.max_redirects; ++hop) {
    upstream::Request req;
    req.method = bhttp::verb::head;
    req.url = url;
    // Only the Hub's own hops are sent from here (never restricted); kept for any future hop.
    req.public_addresses_only =
        publicAddressesOnly(url, config_.upstream, config_.allow_private_addresses);
    req.headers.emplace_back("Accept-Encoding", "identity");
    bool with_auth = !auth.empty() && mayCarryCredentials(url, config_.upstream);
    if (with_auth) req.headers.emplace_back("Authorization", auth);
    auto sent = co_await client_.send(std::move(req));
    if (!sent) co_return std::unexpected(sent.error());
    auto& resp = **sent;
    int st = resp.status();
    if (isRedirect(st)) {
      std::string loc = header(resp.headers(), "Location");
      auto target = url.resolve(loc);
      if (loc.empty() || !target) {
        co_return fail(ErrorCode::Unavailable, "upstream redirect without a usable Location");
      }
      if (mayCarryCredentials(*target, config_.upstream)) {  // the Hub's own hop: follow
        url = *target;
        continue;
      }
      if (!redirectAllowed(*target, config_.upstream, config_.redirect_allow_hosts,
                           config_.allow_private_addresses)) {
        co_return fail(ErrorCode::Forbidden, "upstream redirected to " + target->scheme + "://" +
                                                 target->host + ", which is not allowed");
      }
      auto meta = metaFrom(resp.headers(), true, *target);
      if (!meta) co_return std::unexpected(meta.error());
      meta->authenticated = !auth.empty();
      co_return MetaOutcome(std::move(*meta));
    }
    if (st == 200) {
      auto meta = metaFrom(resp.headers(), false, url);
      if (!meta) co_return std::unexpected(meta.error());
      meta->authenticated = !auth.empty();
      co_return MetaOutcome(std::move(*meta));
    }
    if (st == 429) noteRateLimit(gate_, resp.headers());
    UpstreamReply reply;
    reply.status = st;
    reply.headers = relayedHeaders(resp.headers());
    co_return MetaOutcome(std::move(reply));
  }
  co_return fail(ErrorCode::Unavailable, "too many upstream redirects resolving " + file.path);
}

std::unique_ptr<cache::FillSource> HubClient::fillSource(FileRef file, FileMeta meta,
                                                         std::string upstream_auth) const {
  return std::make_unique<HubFillSource>(*this, std::move(file), std::move(meta),
                                         std::move(upstream_auth));
}

}  // namespace hubgate::hub
