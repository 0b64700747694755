#include "scan/signatures.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <zlib.h>

#include "base/hash.h"

namespace hubgate::scan {
namespace {

namespace fs = std::filesystem;

// A fresh directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "hubgate-sig-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path file(const std::string& name, const std::string& content) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

const std::string kA = std::string(64, 'a');
const std::string kB = sha256Hex("payload-b");
const std::string kC = sha256Hex("payload-c");

std::string rules(const Report& r) {
  std::string out;
  for (const auto& f : r.findings)
    out += f.rule + " (" + f.message + " @" + std::to_string(f.offset) + "); ";
  return out;
}

TEST(HashDenylist, LoadAndLookup) {
  TempDir dir;
  std::string upper = kC;
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](char c) { return static_cast<char>(std::toupper(c)); });
  auto path = dir.file("deny.txt",
                       "# hubgate hash denylist\n"
                       "\n" +
                           kA + " known-bad pickle (CVE-XXXX)\r\n" +  // CRLF
                           kB + ":1234:Hubgate.Test.Hsb\n" +          // ClamAV .hsb
                           upper + ":*:Hubgate.Star:73\n" +           // size '*' with flevel
                           sha256Hex("x") + "  models/evil.bin\n" +   // sha256sum output
                           sha256Hex("y") + "\n" +                    // bare hash
                           "   # indented comment\n");
  auto list = HashDenylist::load(path.string());
  ASSERT_TRUE(list) << list.error().context;
  EXPECT_EQ((*list)->size(), 5u);
  EXPECT_EQ((*list)->lookup(kA), "known-bad pickle (CVE-XXXX)");
  EXPECT_EQ((*list)->lookup(kB), "Hubgate.Test.Hsb");
  EXPECT_EQ((*list)->lookup(kC), "Hubgate.Star");
  EXPECT_EQ((*list)->lookup(upper), "Hubgate.Star");  // lookups ignore case
  EXPECT_EQ((*list)->lookup(sha256Hex("x")), "models/evil.bin");
  EXPECT_EQ((*list)->lookup(sha256Hex("y")), "denylisted");
  EXPECT_FALSE((*list)->lookup(sha256Hex("z")));
  EXPECT_FALSE((*list)->lookup("not hex"));
  EXPECT_FALSE((*list)->lookup(kA.substr(1)));
  EXPECT_EQ((*list)->version().size(), 16u);
  EXPECT_TRUE(isHex((*list)->version(), 16));
}

TEST(HashDenylist, BadLinesNameTheLine) {
  TempDir dir;
  struct Case {
    std::string content;
    std::string want;
  };
  std::vector<Case> cases = {
      {"# ok\n" + kA + " fine\nnot-a-hash label\n", "deny.txt:3:"},
      {kA + "\n" + std::string(63, 'a') + " short\n", "deny.txt:2:"},
      {std::string(32, 'b') + ":12:Md5.Sig\n", "only SHA-256"},
      {std::string(40, 'c') + " sha1\n", "only SHA-256"},
      {kA + ":abc:Name\n", "size"},
      {kA + ":12:\n", "name is empty"},
      {kA + ":12:Name:x\n", "functionality level"},
      {kA + ":12\n", "sha256:size:name"},
      {kA + "zz label\n", "deny.txt:1:"},
  };
  for (const auto& c : cases) {
    auto path = dir.file("deny.txt", c.content);
    auto list = HashDenylist::load(path.string());
    ASSERT_FALSE(list) << c.content;
    EXPECT_EQ(list.error().code, ErrorCode::InvalidArgument);
    EXPECT_NE(list.error().context.find(c.want), std::string::npos) << list.error().context;
  }
}

TEST(HashDenylist, MissingFile) {
  auto list = HashDenylist::load("/nonexistent/hubgate/deny.txt");
  ASSERT_FALSE(list);
  EXPECT_EQ(list.error().code, ErrorCode::NotFound);
}

TEST(HashDenylist, EmptyFileIsAnEmptyList) {
  TempDir dir;
  auto list = HashDenylist::load(dir.file("deny.txt", "").string());
  ASSERT_TRUE(list);
  EXPECT_EQ((*list)->size(), 0u);
  EXPECT_FALSE((*list)->lookup(kA));
}

TEST(HashDenylist, ReloadIfChanged) {
  TempDir dir;
  auto path = dir.file("deny.txt", kA + " first\n");
  auto list = HashDenylist::load(path.string());
  ASSERT_TRUE(list);
  auto& l = **list;
  const std::string v1 = l.version();

  auto r = l.reloadIfChanged();
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_FALSE(*r);  // nothing changed

  dir.file("deny.txt", kA + " second\n" + kB + " added\n");
  r = l.reloadIfChanged();
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_TRUE(*r);
  EXPECT_EQ(l.lookup(kA), "second");
  EXPECT_EQ(l.lookup(kB), "added");
  EXPECT_NE(l.version(), v1);
  const std::string v2 = l.version();

  // A bad line: an error naming it, and the old list stays.
  dir.file("deny.txt", kA + " third\nbroken line here\n");
  r = l.reloadIfChanged();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("deny.txt:2:"), std::string::npos) << r.error().context;
  EXPECT_EQ(l.lookup(kA), "second");
  EXPECT_EQ(l.version(), v2);
  // ... and the next call tries again.
  r = l.reloadIfChanged();
  EXPECT_FALSE(r);

  // Replaced atomically (rename), as feed updaters do.
  dir.file("deny.new", kC + " renamed-in\n");
  fs::rename(dir.path() / "deny.new", path);
  r = l.reloadIfChanged();
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_TRUE(*r);
  EXPECT_FALSE(l.lookup(kA));
  EXPECT_EQ(l.lookup(kC), "renamed-in");

  // Rewritten with identical bytes: the stamp changes, the list does not.
  dir.file("deny.txt", kC + " renamed-in\n");
  r = l.reloadIfChanged();
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);

  // Removed: an error, the list stays.
  fs::remove(path);
  r = l.reloadIfChanged();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::NotFound);
  EXPECT_EQ(l.lookup(kC), "renamed-in");
}

TEST(HashDenylist, LookupsDuringReloads) {
  TempDir dir;
  auto path = dir.file("deny.txt", kA + " v0\n");
  auto list = HashDenylist::load(path.string());
  ASSERT_TRUE(list);
  auto& l = **list;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto label = l.lookup(kA);
        if (!label || label->empty() || (*label)[0] != 'v') bad.fetch_add(1);
        (void)l.version();
      }
    });
  }
  for (int i = 1; i <= 50; ++i) {
    dir.file("deny.txt",
             kA + " v" + std::to_string(i) + std::string(static_cast<std::size_t>(i), ' ') + "\n");
    auto r = l.reloadIfChanged();
    ASSERT_TRUE(r) << r.error().context;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(l.lookup(kA), "v50");
}

#ifdef HUBGATE_HAVE_YARA

const char* kYaraRules = R"(
rule suspicious_marker {
  meta:
    severity = "suspicious"
    description = "test marker"
  strings:
    $m = "HUBGATE-SUSPICIOUS-MARKER"
  condition:
    $m
}

rule posix_system_global {
  meta:
    author = "hubgate tests"
  strings:
    $g = { 63 70 6f 73 69 78 0a 73 79 73 74 65 6d }  // "cposix\nsystem" (a pickle GLOBAL)
  condition:
    $g
}

rule explicit_malicious {
  meta:
    severity = "malicious"
  strings:
    $e = "HUBGATE-EVIL"
  condition:
    $e
}
)";

TEST(SignatureYara, MatchesMapSeverityFromMeta) {
  TempDir dir;
  auto engine = makeYaraEngine(dir.file("rules.yar", kYaraRules).string());
  ASSERT_TRUE(engine) << engine.error().context;
  EXPECT_EQ((*engine)->name(), "yara");
  EXPECT_EQ((*engine)->version().size(), 16u);

  Report suspicious;
  (*engine)->scanBytes("0123456789HUBGATE-SUSPICIOUS-MARKER...", "archive/data.pkl", suspicious);
  ASSERT_EQ(suspicious.findings.size(), 1u) << rules(suspicious);
  EXPECT_EQ(suspicious.verdict, Verdict::Suspicious);
  EXPECT_EQ(suspicious.findings[0].rule, "yara.suspicious_marker");
  EXPECT_EQ(suspicious.findings[0].location, "archive/data.pkl");
  EXPECT_EQ(suspicious.findings[0].offset, 10u);
  EXPECT_NE(suspicious.findings[0].message.find("test marker"), std::string::npos);

  Report malicious;
  (*engine)->scanBytes(std::string("\x80\x02") + "cposix\nsystem\nq\x00", "", malicious);
  EXPECT_EQ(malicious.verdict, Verdict::Malicious) << rules(malicious);
  ASSERT_EQ(malicious.findings.size(), 1u);
  EXPECT_EQ(malicious.findings[0].rule, "yara.posix_system_global");  // no severity meta: malicious
  EXPECT_EQ(malicious.findings[0].offset, 2u);

  Report both;
  (*engine)->scanBytes("HUBGATE-EVIL HUBGATE-SUSPICIOUS-MARKER", "", both);
  EXPECT_EQ(both.verdict, Verdict::Malicious);
  EXPECT_EQ(both.findings.size(), 2u);

  Report clean;
  (*engine)->scanBytes("nothing to see here", "", clean);
  (*engine)->scanBytes("", "", clean);
  EXPECT_EQ(clean.verdict, Verdict::Clean) << rules(clean);
  EXPECT_TRUE(clean.findings.empty());
}

TEST(SignatureYara, RulesDirectory) {
  TempDir dir;
  dir.file("a.yar", R"(rule a_rule { strings: $a = "AAAA-MARK" condition: $a })");
  dir.file(
      "b.yara",
      R"(rule b_rule { meta: severity = "suspicious" strings: $b = "BBBB-MARK" condition: $b })");
  dir.file("notes.txt", "not a rules file {");
  auto engine = makeYaraEngine(dir.path().string());
  ASSERT_TRUE(engine) << engine.error().context;
  Report r;
  (*engine)->scanBytes("xx AAAA-MARK BBBB-MARK", "", r);
  EXPECT_EQ(r.findings.size(), 2u) << rules(r);
}

TEST(SignatureYara, CompileErrorsNameFileAndLine) {
  TempDir dir;
  auto engine = makeYaraEngine(
      dir.file("broken.yar", "rule ok { condition: true }\n\nrule bad {\n  condition: $x\n}\n")
          .string());
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(engine.error().context.find("broken.yar:"), std::string::npos)
      << engine.error().context;
  EXPECT_NE(engine.error().context.find("undefined string"), std::string::npos)
      << engine.error().context;
}

TEST(SignatureYara, MissingRules) {
  auto engine = makeYaraEngine("/nonexistent/hubgate/rules.yar");
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code, ErrorCode::NotFound);
  TempDir empty;
  auto none = makeYaraEngine(empty.path().string());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::NotFound);
}

TEST(SignatureYara, ConcurrentScans) {
  TempDir dir;
  auto engine = makeYaraEngine(dir.file("rules.yar", kYaraRules).string());
  ASSERT_TRUE(engine) << engine.error().context;
  const SignatureEngine& e = **engine;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        Report r;
        bool evil = (i + t) % 2 == 0;
        e.scanBytes(
            std::string(static_cast<std::size_t>(i), 'x') + (evil ? "HUBGATE-EVIL" : "fine"), "",
            r);
        if ((r.verdict == Verdict::Malicious) != evil) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SignatureYara, TwoEnginesHaveIndependentLifetimes) {
  TempDir dir;
  auto path = dir.file("rules.yar", kYaraRules).string();
  auto first = makeYaraEngine(path);
  ASSERT_TRUE(first);
  {
    auto second = makeYaraEngine(path);
    ASSERT_TRUE(second);
  }  // destroying one engine must not finalize libyara under the other
  Report r;
  (*first)->scanBytes("HUBGATE-EVIL", "", r);
  EXPECT_EQ(r.verdict, Verdict::Malicious);
}

#else

TEST(SignatureYara, UnavailableWhenBuiltWithout) {
  auto engine = makeYaraEngine("rules.yar");
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code, ErrorCode::Unavailable);
}

#endif  // HUBGATE_HAVE_YARA

#ifdef HUBGATE_HAVE_CLAMAV

std::string hexOf(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

const std::string kNdbMarker = "HUBGATE-CLAMAV-NDB-TEST-MARKER";
const std::string kHsbPayload = "exact payload matched by its sha256 only\n";

// Custom databases only: .ndb (hex body), .hsb (sha256:size:name), .hdb (md5:size:name).
void writeDb(const TempDir& dir) {
  dir.file("hubgate.ndb", "Hubgate.Test.Ndb:0:*:" + hexOf(kNdbMarker) + "\n");
  dir.file("hubgate.hsb", sha256Hex(kHsbPayload) + ":" + std::to_string(kHsbPayload.size()) +
                              ":Hubgate.Test.Hsb:73\n");
  dir.file("ignored.txt", "not a database\n");
}

TEST(SignatureClamav, CustomDatabasesMatchOffline) {
  TempDir dir;
  writeDb(dir);
  auto engine = makeClamavEngine(dir.path().string());
  ASSERT_TRUE(engine) << engine.error().context;
  EXPECT_EQ((*engine)->name(), "clamav");
  EXPECT_EQ((*engine)->version().size(), 16u);

  Report ndb;
  (*engine)->scanBytes("some text before " + kNdbMarker + " and after", "archive/member.bin", ndb);
  EXPECT_EQ(ndb.verdict, Verdict::Malicious) << rules(ndb);
  ASSERT_EQ(ndb.findings.size(), 1u);
  EXPECT_EQ(ndb.findings[0].rule, "clamav.Hubgate.Test.Ndb");
  EXPECT_EQ(ndb.findings[0].location, "archive/member.bin");

  Report hsb;
  (*engine)->scanBytes(kHsbPayload, "", hsb);
  EXPECT_EQ(hsb.verdict, Verdict::Malicious) << rules(hsb);
  ASSERT_EQ(hsb.findings.size(), 1u);
  EXPECT_EQ(hsb.findings[0].rule, "clamav.Hubgate.Test.Hsb");

  Report clean;
  (*engine)->scanBytes(kHsbPayload + "x", "", clean);
  (*engine)->scanBytes("harmless bytes", "", clean);
  (*engine)->scanBytes("", "", clean);
  EXPECT_EQ(clean.verdict, Verdict::Clean) << rules(clean);
}

std::string le16(unsigned v) {
  return {static_cast<char>(v & 0xFF), static_cast<char>((v >> 8) & 0xFF)};
}
std::string le32(std::uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

// A one-member zip whose member is raw-deflated (so its bytes do not appear in the zip).
std::string deflatedZip(const std::string& name, const std::string& content) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string packed(deflateBound(&z, content.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = reinterpret_cast<Bytef*>(packed.data());
  z.avail_out = static_cast<uInt>(packed.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  packed.resize(z.total_out);
  deflateEnd(&z);
  auto crc = static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size())));
  auto common = le16(20) + le16(0) + le16(8) + le16(0) + le16(0x21) + le32(crc) +
                le32(static_cast<std::uint32_t>(packed.size())) +
                le32(static_cast<std::uint32_t>(content.size())) +
                le16(static_cast<unsigned>(name.size())) + le16(0);
  std::string local = "PK\x03\x04" + common + name + packed;
  std::string central =
      "PK\x01\x02" + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + le32(0) + name;
  std::string eocd = "PK\x05\x06" + le16(0) + le16(0) + le16(1) + le16(1) +
                     le32(static_cast<std::uint32_t>(central.size())) +
                     le32(static_cast<std::uint32_t>(local.size())) + le16(0);
  return local + central + eocd;
}

TEST(SignatureClamav, MatchesInsideADeflatedZipMember) {
  TempDir dir;
  writeDb(dir);
  auto engine = makeClamavEngine(dir.path().string());
  ASSERT_TRUE(engine) << engine.error().context;
  std::string zip =
      deflatedZip("model/data.pkl", std::string(300, 'z') + kNdbMarker + std::string(300, 'z'));
  ASSERT_EQ(zip.find(kNdbMarker), std::string::npos);
  Report r;
  (*engine)->scanBytes(zip, "", r);
  EXPECT_EQ(r.verdict, Verdict::Malicious) << rules(r);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].rule, "clamav.Hubgate.Test.Ndb");
}

TEST(SignatureClamav, ContentAboveTheSizeLimitIsNotScannedNotClean) {
  TempDir dir;
  writeDb(dir);
  auto engine = makeClamavEngine(dir.path().string(), /*max_size=*/64);
  ASSERT_TRUE(engine) << engine.error().context;
  Report r;
  (*engine)->scanBytes(std::string(1000, 'a'), "big.bin", r);
  EXPECT_EQ(r.verdict, Verdict::Error) << rules(r);
  ASSERT_FALSE(r.findings.empty());
  EXPECT_EQ(r.findings[0].rule, "clamav.not-scanned");
  // Small content is still scanned.
  Report small;
  (*engine)->scanBytes(kNdbMarker, "", small);
  EXPECT_EQ(small.verdict, Verdict::Malicious) << rules(small);
}

TEST(SignatureClamav, ConcurrentScans) {
  TempDir dir;
  writeDb(dir);
  auto engine = makeClamavEngine(dir.path().string());
  ASSERT_TRUE(engine) << engine.error().context;
  const SignatureEngine& e = **engine;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        Report r;
        bool evil = (i + t) % 2 == 0;
        e.scanBytes(
            std::string(static_cast<std::size_t>(i + 1), 'y') + (evil ? kNdbMarker : "fine"), "",
            r);
        if ((r.verdict == Verdict::Malicious) != evil) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(SignatureClamav, BadDatabases) {
  auto missing = makeClamavEngine("/nonexistent/hubgate/clamav");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::NotFound);

  TempDir empty;
  empty.file("main.cvd.txt", "official databases are not loaded");
  auto none = makeClamavEngine(empty.path().string());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::NotFound);

  TempDir broken;
  broken.file("bad.ndb", "this is not an ndb signature\n");
  auto bad = makeClamavEngine(broken.path().string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::InvalidArgument);
  EXPECT_NE(bad.error().context.find("bad.ndb"), std::string::npos) << bad.error().context;
}

#else

TEST(SignatureClamav, UnavailableWhenBuiltWithout) {
  auto engine = makeClamavEngine("db");
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code, ErrorCode::Unavailable);
}

#endif  // HUBGATE_HAVE_CLAMAV

}  // namespace
}  // namespace hubgate::scan
