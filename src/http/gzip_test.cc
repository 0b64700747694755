#include "http/gzip.h"

#include <zlib.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace hubgate::http {
namespace {

struct AcceptCase {
  std::string header;
  bool expected;
};

TEST(AcceptsGzip, Table) {
  const std::vector<AcceptCase> cases = {
      {"gzip", true},
      {"gzip, deflate", true},
      {"gzip, deflate, br", true},
      {"deflate, gzip;q=0.5", true},
      {"GZIP", true},
      {"x-gzip", true},
      {"br;q=1.0, gzip;q=0.001", true},
      {" gzip ; q=1 ", true},
      {"gzip;Q=1.000", true},
      {"gzip;level=1", true},
      {"*", true},
      {"*;q=0.1", true},
      {"identity, *;q=0.5", true},
      {"", false},
      {"identity", false},
      {"deflate, br", false},
      {"gzip;q=0", false},
      {"gzip;q=0.000", false},
      {"gzip;q=0, *", false},
      {"*, gzip;q=0", false},
      {"x-gzip;q=0, gzip", false},
      {"*;q=0", false},
      {"gzip;q=", false},
      {"gzip;q=2", false},
      {"gzip;q=1.5", false},
      {"gzip;q=0.0001", false},
      {"gzip;q=abc", false},
      {"gzip;q=abc, *", true},
      {"gzipx", false},
      {"identity;q=0", false},
  };
  for (const AcceptCase& c : cases) {
    SCOPED_TRACE(c.header);
    EXPECT_EQ(acceptsGzip(c.header), c.expected);
  }
}

// Decompresses one gzip member with zlib; nullopt on any error or trailing garbage.
std::optional<std::string> gunzip(const std::string& in) {
  z_stream zs{};
  if (inflateInit2(&zs, 31) != Z_OK) return std::nullopt;
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  }
  const bool ok = rc == Z_STREAM_END && zs.avail_in == 0;
  inflateEnd(&zs);
  if (!ok) return std::nullopt;
  return out;
}

TEST(GzipCompress, RoundTrips) {
  std::mt19937 rng(42);
  std::string random(300000, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  std::string json;
  for (int i = 0; i < 5000; ++i) {
    json += R"({"type":"file","oid":"abc","size":)" + std::to_string(i) + R"(,"path":"f/)" +
            std::to_string(i) + "\"},";
  }
  const std::vector<std::string> inputs = {
      "",   "a",    std::string("\0\1\2", 3), "hello hello hello hello",
      json, random, std::string(1 << 20, 'x')};
  for (const std::string& in : inputs) {
    SCOPED_TRACE(in.size());
    auto gz = gzipCompress(in);
    ASSERT_TRUE(gz.has_value()) << gz.error().context;
    ASSERT_GE(gz->size(), 18u);
    EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
    EXPECT_EQ(gunzip(*gz), in);
  }
  // Compressible input shrinks.
  EXPECT_LT(gzipCompress(json)->size(), json.size() / 5);
}

}  // namespace
}  // namespace hubgate::http
