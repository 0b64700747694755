// HashDenylist (the YARA and ClamAV engines live in signatures_yara.cc / signatures_clamav.cc).
#include "scan/signatures.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "base/hash.h"

namespace hubgate::scan {

struct HashDenylist::Snapshot {
  std::unordered_map<std::string, std::string> labels;  // lowercase hex -> label
  std::string version;
};

namespace {

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string lowerHex(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// The line for an error message: at most 60 bytes, control bytes replaced.
std::string excerpt(std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < line.size() && i < 60; ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    out.push_back(c < 0x20 || c == 0x7F ? '?' : static_cast<char>(c));
  }
  if (line.size() > 60) out += "...";
  return out;
}

}  // namespace

Result<std::shared_ptr<const HashDenylist::Snapshot>> HashDenylist::parse(std::string_view content,
                                                                          const std::string& name) {
  auto snap = std::make_shared<Snapshot>();
  std::size_t lineno = 0;
  std::size_t start = 0;
  while (start <= content.size()) {
    std::size_t nl = content.find('\n', start);
    std::string_view raw =
        content.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? content.size() + 1 : nl + 1;
    ++lineno;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](const std::string& why) {
      return fail(ErrorCode::InvalidArgument, name + ":" + std::to_string(lineno) + ": " + why +
                                                  " in \"" + excerpt(line) + "\"");
    };
    std::size_t hex = 0;
    while (hex < line.size() && isHexDigit(line[hex])) ++hex;
    const char next = hex < line.size() ? line[hex] : '\0';
    const bool separator = next == '\0' || next == ' ' || next == '\t' || next == ':';
    if (hex != 64 || !separator) {
      if ((hex == 32 || hex == 40) && separator) {
        return bad("only SHA-256 hashes are supported (found a " + std::to_string(hex) +
                   "-digit hash)");
      }
      return bad("expected '<sha256> <label>' or '<sha256>:<size>:<name>'");
    }
    std::string hash = lowerHex(line.substr(0, 64));
    std::string label;
    if (next == ':') {
      // ClamAV .hsb: hash:size:name[:min_flevel[:max_flevel]]
      std::vector<std::string_view> fields;
      std::string_view rest = line.substr(65);
      while (true) {
        std::size_t colon = rest.find(':');
        fields.push_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
      }
      if (fields.size() < 2 || fields.size() > 4)
        return bad("a .hsb line has the form sha256:size:name[:flevel[:flevel]]");
      if (fields[0] != "*" && !allDigits(fields[0]))
        return bad("the .hsb size is neither digits nor '*'");
      if (trim(fields[1]).empty()) return bad("the .hsb signature name is empty");
      for (std::size_t i = 2; i < fields.size(); ++i) {
        if (!fields[i].empty() && !allDigits(fields[i]))
          return bad("a .hsb functionality level is not a number");
      }
      label = std::string(trim(fields[1]));
    } else {
      label = std::string(trim(line.substr(64)));
      if (label.empty()) label = "denylisted";
    }
    snap->labels.emplace(std::move(hash), std::move(label));
  }
  snap->version = sha256Hex(content).substr(0, 16);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

Result<std::pair<std::string, HashDenylist::FileStamp>> HashDenylist::readFile(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Unavailable,
                "hash denylist " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fail(ErrorCode::Unavailable, "hash denylist " + path + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(ErrorCode::Unavailable, "hash denylist " + path + ": not a regular file");
  }
  FileStamp stamp;
  stamp.size = static_cast<std::uint64_t>(st.st_size);
  stamp.inode = static_cast<std::uint64_t>(st.st_ino);
  stamp.device = static_cast<std::uint64_t>(st.st_dev);
  stamp.mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  stamp.ctime_ns =
      static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  std::string content;
  char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fail(ErrorCode::Unavailable, "hash denylist " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    content.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return std::pair{std::move(content), stamp};
}

Result<std::unique_ptr<HashDenylist>> HashDenylist::load(const std::string& path) {
  auto file = readFile(path);
  if (!file) return std::unexpected(file.error());
  auto snap = parse(file->first, path);
  if (!snap) return std::unexpected(snap.error());
  std::unique_ptr<HashDenylist> list(new HashDenylist(path));
  list->stamp_ = file->second;
  list->current_ = std::move(*snap);
  return list;
}

std::optional<std::string> HashDenylist::lookup(std::string_view sha256_hex) const {
  if (!isHex(sha256_hex, 64)) return std::nullopt;
  std::string key = lowerHex(sha256_hex);
  std::shared_lock lock(mu_);
  auto it = current_->labels.find(key);
  if (it == current_->labels.end()) return std::nullopt;
  return it->second;
}

std::string HashDenylist::version() const {
  std::shared_lock lock(mu_);
  return current_->version;
}

std::size_t HashDenylist::size() const {
  std::shared_lock lock(mu_);
  return current_->labels.size();
}

Result<bool> HashDenylist::reloadIfChanged() {
  std::lock_guard reload(reload_mu_);
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return fail(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Unavailable,
                "hash denylist " + path_ + ": " + std::strerror(errno));
  }
  FileStamp now;
  now.size = static_cast<std::uint64_t>(st.st_size);
  now.inode = static_cast<std::uint64_t>(st.st_ino);
  now.device = static_cast<std::uint64_t>(st.st_dev);
  now.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  now.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  if (now == stamp_) return false;
  auto file = readFile(path_);
  if (!file) return std::unexpected(file.error());
  auto snap = parse(file->first, path_);
  if (!snap) return std::unexpected(snap.error());
  stamp_ = file->second;
  {
    std::unique_lock lock(mu_);
    if ((*snap)->version == current_->version) return false;
    current_ = std::move(*snap);
  }
  return true;
}

}  // namespace hubgate::scan
