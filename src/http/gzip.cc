#include "http/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <new>
#include <optional>

namespace hubgate::http {

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 qvalue: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3"0" ]. Returns whether it is > 0, or
// nullopt when malformed.
std::optional<bool> qPositive(std::string_view q) {
  if (q.empty() || q.size() > 5 || (q[0] != '0' && q[0] != '1')) return std::nullopt;
  if (q.size() > 1 && q[1] != '.') return std::nullopt;
  bool positive = q[0] == '1';
  for (std::size_t i = 2; i < q.size(); ++i) {
    if (q[i] < '0' || q[i] > '9') return std::nullopt;
    if (q[0] == '1' && q[i] != '0') return std::nullopt;
    if (q[i] != '0') positive = true;
  }
  return positive;
}

// Frees a deflate stream on every path out.
struct DeflateGuard {
  z_stream* zs;
  ~DeflateGuard() { deflateEnd(zs); }
};

}  // namespace

bool acceptsGzip(std::string_view accept_encoding) {
  std::optional<bool> gzip;  // explicit gzip / x-gzip
  std::optional<bool> star;
  while (true) {
    auto comma = accept_encoding.find(',');
    std::string_view element = accept_encoding.substr(0, comma);
    auto semi = element.find(';');
    std::string_view coding = trimOws(element.substr(0, semi));
    std::optional<bool> ok = true;
    // Parameters: only q matters.
    while (semi != std::string_view::npos) {
      element.remove_prefix(semi + 1);
      semi = element.find(';');
      std::string_view param = trimOws(element.substr(0, semi));
      auto eq = param.find('=');
      if (equalsIgnoreCase(trimOws(param.substr(0, eq)), "q")) {
        ok = eq == std::string_view::npos ? std::nullopt : qPositive(trimOws(param.substr(eq + 1)));
      }
    }
    if (ok.has_value()) {
      if (equalsIgnoreCase(coding, "gzip") || equalsIgnoreCase(coding, "x-gzip")) {
        gzip = gzip.value_or(true) && *ok;
      } else if (coding == "*") {
        star = star.value_or(true) && *ok;
      }
    }
    if (comma == std::string_view::npos) break;
    accept_encoding.remove_prefix(comma + 1);
  }
  if (gzip.has_value()) return *gzip;
  return star.value_or(false);
}

Result<std::string> gzipCompress(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return fail(ErrorCode::Internal, "gzip: deflateInit2 failed");
  }
  DeflateGuard guard{&zs};
  // zlib counts in uInt; feed and drain in chunks that fit.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  try {
    std::string out;
    out.resize(std::min<std::size_t>(deflateBound(&zs, data.size()), kChunk) + 64);
    std::size_t in_pos = 0;
    std::size_t out_pos = 0;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      const std::size_t in_now = std::min(data.size() - in_pos, kChunk);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
      zs.avail_in = static_cast<uInt>(in_now);
      const int flush = in_pos + in_now == data.size() ? Z_FINISH : Z_NO_FLUSH;
      do {
        if (out_pos == out.size()) out.resize(out.size() * 2);
        const std::size_t out_now = std::min(out.size() - out_pos, kChunk);
        zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
        zs.avail_out = static_cast<uInt>(out_now);
        rc = deflate(&zs, flush);
        if (rc == Z_STREAM_ERROR) return fail(ErrorCode::Internal, "gzip: deflate failed");
        out_pos += out_now - zs.avail_out;
      } while (zs.avail_out == 0 && rc != Z_STREAM_END);
      in_pos += in_now - zs.avail_in;
      if (flush == Z_FINISH && rc != Z_STREAM_END) {
        return fail(ErrorCode::Internal, "gzip: deflate did not finish");
      }
    }
    out.resize(out_pos);
    return out;
  } catch (const std::bad_alloc&) {
    return fail(ErrorCode::ResourceExhausted, "gzip: out of memory");
  }
}

}  // namespace hubgate::http
