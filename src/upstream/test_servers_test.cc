// Definitions of the test-only helpers declared in test_servers.h (the _test.cc suffix keeps them
// out of the hg_upstream library).
#include "upstream/test_servers.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "upstream/url.h"

namespace hubgate::upstream::testkit {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

// --- Gate -------------------------------------------------------------------------------------

void Gate::open() {
  {
    std::lock_guard lock(mu_);
    open_ = true;
  }
  cv_.notify_all();
}

bool Gate::wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return open_; });
}

// --- certificates -----------------------------------------------------------------------------

TestCert::~TestCert() {
  if (!cert_path.empty()) {
    std::error_code ec;
    std::filesystem::remove(cert_path, ec);
  }
}

namespace {

std::string bioToString(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificate: ") + what);
}

}  // namespace

std::unique_ptr<TestCert> makeSelfSignedCert(const std::string& subject_alt_names) {
  static std::atomic<long> serial{1};
  EVP_PKEY* key = EVP_EC_gen("P-256");
  check(key != nullptr, "EC key generation");
  X509* x509 = X509_new();
  check(x509 != nullptr, "X509_new");
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), serial.fetch_add(1) + ::getpid() * 1000L);
  X509_gmtime_adj(X509_getm_notBefore(x509), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509), 24 * 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("hubgate test"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair<int, std::string>{NID_subject_alt_name, subject_alt_names},
        {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    check(ext != nullptr, "extension");
    X509_add_ext(x509, ext, -1);
    X509_EXTENSION_free(ext);
  }
  check(X509_sign(x509, key, EVP_sha256()) > 0, "sign");

  auto cert = std::make_unique<TestCert>();
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, x509);
  cert->cert_pem = bioToString(cert_bio);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  cert->key_pem = bioToString(key_bio);
  BIO_free(key_bio);
  X509_free(x509);
  EVP_PKEY_free(key);

  static std::atomic<int> counter{0};
  const auto path = std::filesystem::temp_directory_path() /
                    ("hubgate-upstream-test-" + std::to_string(::getpid()) + "-" +
                     std::to_string(counter.fetch_add(1)) + ".pem");
  std::ofstream(path) << cert->cert_pem;
  cert->cert_path = path.string();
  return cert;
}

// --- ServerConn -------------------------------------------------------------------------------

ServerConn::ServerConn(TestServer& server, tcp::socket socket, ssl::context* tls)
    : server_(server), socket_(std::move(socket)) {
  if (tls != nullptr) tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *tls);
}

ServerConn::~ServerConn() { close(); }

bool ServerConn::handshake() {
  if (!tls_) return true;
  error_code ec;
  tls_->handshake(ssl::stream_base::server, ec);
  return !ec;
}

std::optional<ServerConn::HttpRequest> ServerConn::readRequest() {
  HttpRequest req;
  error_code ec;
  if (tls_) {
    http::read(*tls_, buffer_, req, ec);
  } else {
    http::read(socket_, buffer_, req, ec);
  }
  if (ec) return std::nullopt;
  return req;
}

bool ServerConn::write(std::string_view bytes) {
  error_code ec;
  if (tls_) {
    asio::write(*tls_, asio::buffer(bytes.data(), bytes.size()), ec);
  } else {
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
  }
  return !ec;
}

void ServerConn::close() {
  if (!socket_.is_open()) return;
  server_.unregisterFd(socket_.native_handle());
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

void ServerConn::waitForStop() { server_.waitForStop(); }

std::string ServerConn::takeBuffered() {
  std::string out(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  return out;
}

std::string ServerConn::serverName() const {
  if (!tls_) return "";
  const char* name = SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? "" : name;
}

int ServerConn::nativeHandle() { return socket_.native_handle(); }

// --- TestServer -------------------------------------------------------------------------------

TestServer::TestServer(Handler handler, const TestCert* tls)
    : handler_(std::move(handler)), acceptor_(ioc_) {
  if (tls != nullptr) {
    tls_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    tls_->use_certificate_chain(asio::buffer(tls->cert_pem));
    tls_->use_private_key(asio::buffer(tls->key_pem), ssl::context::pem);
  }
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  port_ = acceptor_.local_endpoint().port();
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

TestServer::~TestServer() { stop(); }

std::string TestServer::url(std::string_view path) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) +
         std::string(path);
}

void TestServer::acceptLoop() {
  for (;;) {
    tcp::socket socket(ioc_);
    error_code ec;
    acceptor_.accept(socket, ec);
    if (ec || stopping_.load()) return;
    accepted_.fetch_add(1);
    registerFd(socket.native_handle());
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, s = std::move(socket)]() mutable {
      ServerConn conn(*this, std::move(s), tls_.get());
      if (conn.handshake()) handler_(conn);
    });
  }
}

void TestServer::registerFd(int fd) {
  std::lock_guard lock(mu_);
  live_fds_.insert(fd);
}

void TestServer::unregisterFd(int fd) {
  std::lock_guard lock(mu_);
  live_fds_.erase(fd);
}

void TestServer::waitForStop() {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return stopping_.load(); });
}

void TestServer::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(acceptor_.native_handle(), SHUT_RDWR);  // wakes the blocked accept()
  accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked reads and writes
    threads = std::move(threads_);
  }
  stop_cv_.notify_all();
  for (auto& t : threads) t.join();
  error_code ec;
  acceptor_.close(ec);
}

void TestServer::record(std::string entry) {
  std::lock_guard lock(mu_);
  records_.push_back(std::move(entry));
}

std::vector<std::string> TestServer::records() const {
  std::lock_guard lock(mu_);
  return records_;
}

// --- responses and proxies --------------------------------------------------------------------

std::string makeResponse(int status, std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         bool chunked) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Whatever\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  if (!chunked) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    out += body;
    return out;
  }
  out += "Transfer-Encoding: chunked\r\n\r\n";
  while (!body.empty()) {
    const auto n = std::min<std::size_t>(body.size(), 1000);
    char size[32];
    std::snprintf(size, sizeof(size), "%zx;ext=1\r\n", n);
    out += size;
    out += body.substr(0, n);
    out += "\r\n";
    body.remove_prefix(n);
  }
  out += "0\r\n\r\n";
  return out;
}

namespace {

bool connectTo(tcp::socket& socket, const std::string& host, std::uint16_t port) {
  error_code ec;
  socket.connect(tcp::endpoint(asio::ip::make_address(host, ec), port), ec);
  return !ec;
}

// Copies bytes between two blocking sockets until either side closes.
void relay(int a, int b) {
  char buf[16 * 1024];
  for (;;) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (::poll(fds, 2, 10'000) <= 0) return;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) return;
      const int to = i == 0 ? b : a;
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = ::send(to, buf + off, static_cast<std::size_t>(n - off), MSG_NOSIGNAL);
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

}  // namespace

void forwardProxyHandler(ServerConn& conn) {
  while (auto req = conn.readRequest()) {
    const std::string target(req->target());
    conn.server().record(std::string(req->method_string()) + " " + target);
    if (auto auth = req->find(http::field::proxy_authorization); auth != req->end()) {
      conn.server().record("Proxy-Authorization: " + std::string(auth->value()));
      req->erase(http::field::proxy_authorization);
    }
    auto url = Url::parse(target);
    if (!url) {
      conn.write(makeResponse(400, "not absolute-form"));
      continue;
    }
    asio::io_context ioc;
    tcp::socket upstream(ioc);
    if (!connectTo(upstream, url->host, url->port)) {
      conn.write(makeResponse(502, "cannot connect"));
      continue;
    }
    req->target(url->target);
    error_code ec;
    http::write(upstream, *req, ec);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    if (!ec) http::read(upstream, buffer, res, ec);
    if (ec) {
      conn.write(makeResponse(502, "upstream failed"));
      continue;
    }
    res.prepare_payload();
    std::ostringstream out;
    out << res;
    if (!conn.write(out.str())) return;
  }
}

void connectProxyHandler(ServerConn& conn, const std::string& require_auth) {
  auto req = conn.readRequest();
  if (!req) return;
  const std::string target(req->target());
  conn.server().record(std::string(req->method_string()) + " " + target);
  if (req->method() != http::verb::connect) {
    conn.write(makeResponse(405, "CONNECT only"));
    return;
  }
  if (!require_auth.empty()) {
    auto auth = req->find(http::field::proxy_authorization);
    if (auth == req->end() || auth->value() != require_auth) {
      conn.write(makeResponse(407, "", {{"Proxy-Authenticate", "Basic realm=\"test\""}}));
      return;
    }
  }
  const auto colon = target.rfind(':');
  asio::io_context ioc;
  tcp::socket upstream(ioc);
  if (colon == std::string::npos ||
      !connectTo(upstream, target.substr(0, colon),
                 static_cast<std::uint16_t>(std::stoi(target.substr(colon + 1))))) {
    conn.write(makeResponse(502, "cannot connect"));
    return;
  }
  if (!conn.write("HTTP/1.1 200 Connection established\r\n\r\n")) return;
  const std::string early = conn.takeBuffered();
  if (!early.empty() &&
      ::send(upstream.native_handle(), early.data(), early.size(), MSG_NOSIGNAL) < 0)
    return;
  relay(conn.nativeHandle(), upstream.native_handle());
}

}  // namespace hubgate::upstream::testkit
