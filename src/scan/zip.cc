#include "scan/zip.h"

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/utf8.h"

namespace hubgate::scan {
namespace {

__extension__ typedef unsigned __int128 U128;

constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kDescriptorSig = 0x08074b50;

constexpr std::uint64_t kEocdSize = 22;
constexpr std::uint64_t kLocatorSize = 20;
constexpr std::uint64_t kZip64EocdSize = 56;
constexpr std::uint64_t kCentralSize = 46;
constexpr std::uint64_t kLocalSize = 30;
constexpr std::uint64_t kEocdSearch = 65535 + kEocdSize;
constexpr std::size_t kMaxFindings = 64;
constexpr std::size_t kChunk = 64 * 1024;
// How far a data descriptor of a local-only stored record is searched for, and how many bytes
// of gaps are searched for hidden local headers.
constexpr std::uint64_t kDescriptorSearch = 64ull << 20;
constexpr std::uint64_t kGapSearch = 64ull << 20;
constexpr std::uint64_t kMaxPlausibleSize = 1ull << 50;
constexpr std::uint64_t kMaxDeflateRatio = 1032;
// End-record candidates examined (each costs a few small reads).
constexpr int kMaxEndCandidates = 64;

std::uint16_t le16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) |
                                    (static_cast<unsigned char>(p[1]) << 8));
}
std::uint32_t le32(const char* p) {
  return static_cast<std::uint32_t>(le16(p)) | (static_cast<std::uint32_t>(le16(p + 2)) << 16);
}
std::uint64_t le64(const char* p) {
  return static_cast<std::uint64_t>(le32(p)) | (static_cast<std::uint64_t>(le32(p + 4)) << 32);
}

// Reads with bounds checks; remembers whether an I/O error (not just "past the end") happened.
class Reader {
 public:
  explicit Reader(ByteSource& source) : source_(source), size_(source.size()) {}
  std::uint64_t size() const { return size_; }
  bool fits(std::uint64_t offset, std::uint64_t n) const {
    return offset <= size_ && n <= size_ - offset;
  }
  std::optional<std::string> get(std::uint64_t offset, std::uint64_t n) {
    if (!fits(offset, n)) return std::nullopt;
    auto r = source_.readString(offset, static_cast<std::size_t>(n));
    if (!r) {
      if (r.error().code != ErrorCode::InvalidArgument && io_error_.empty()) {
        io_error_ = r.error().context;
      }
      return std::nullopt;
    }
    return std::move(*r);
  }
  std::optional<std::uint32_t> sig(std::uint64_t offset) {
    auto s = get(offset, 4);
    if (!s) return std::nullopt;
    return le32(s->data());
  }
  const std::string& ioError() const { return io_error_; }
  ByteSource& source() { return source_; }

 private:
  ByteSource& source_;
  std::uint64_t size_;
  std::string io_error_;
};

// Anomaly findings, capped (FindingSink), located at the archive or one of its members.
class Sink {
 public:
  Sink(Report& report, const std::string& location)
      : findings_(report, "zip", kMaxFindings), location_(location) {}
  void add(Verdict severity, std::string rule, std::string message, std::uint64_t offset,
           std::string_view member = {}) {
    std::string loc = member.empty() ? location_ : joinLocation(location_, printableName(member));
    findings_.add(severity, std::move(rule), std::move(message), offset, std::move(loc));
  }
  void invalid(std::string rule, std::string message, std::uint64_t offset,
               std::string_view member = {}) {
    add(Verdict::Invalid, std::move(rule), std::move(message), offset, member);
  }

 private:
  FindingSink findings_;
  const std::string& location_;
};

std::string hex32(std::uint32_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(v >> shift) & 0xF]);
  return out;
}

std::string num(std::uint64_t v) { return std::to_string(v); }

// ZIP64 extended information (extra field id 1): the fields whose 32-bit value is saturated
// are present, in the order uncompressed size, compressed size, header offset.
struct Zip64Needs {
  bool usize = false, csize = false, offset = false;
};
bool applyZip64Extra(std::string_view extra, Zip64Needs needs, std::uint64_t& usize,
                     std::uint64_t& csize, std::uint64_t* offset) {
  if (!needs.usize && !needs.csize && !needs.offset) return true;
  std::size_t p = 0;
  while (p + 4 <= extra.size()) {
    std::uint16_t id = le16(extra.data() + p);
    std::uint16_t len = le16(extra.data() + p + 2);
    if (p + 4 + len > extra.size()) return false;
    if (id == 0x0001) {
      std::string_view body = extra.substr(p + 4, len);
      std::size_t q = 0;
      auto take = [&](std::uint64_t& v) {
        if (q + 8 > body.size()) return false;
        v = le64(body.data() + q);
        q += 8;
        return true;
      };
      if (needs.usize && !take(usize)) return false;
      if (needs.csize && !take(csize)) return false;
      if (needs.offset && offset != nullptr && !take(*offset)) return false;
      return true;
    }
    p += 4 + len;
  }
  return false;
}

struct EndRecord {
  std::uint64_t pos = 0;
  std::uint32_t disk = 0, cd_disk = 0;
  std::uint64_t entries_disk = 0, entries_total = 0, cd_size = 0, cd_offset = 0;
  std::uint16_t comment_len = 0;
  bool has_locator = false;
  bool zip64 = false;  // a usable ZIP64 record supplied the values
  bool zip64_bad = false;
  std::string zip64_problem;
  std::uint64_t zip64_pos = 0;
  std::uint64_t zip64_len = 0;
  std::uint64_t cd_limit = 0;  // where the directory must end (the first end structure)
  std::uint64_t shift = 0;     // bytes before the archive (Python's "concat")
  bool cd_found = false;       // a central header at cd_offset (+ shift)
  bool shifted = false;        // found only at cd_offset + shift
};

// Parses the end record at `pos` (signature already seen), its ZIP64 companions, and where the
// central directory is.
std::optional<EndRecord> parseEnd(Reader& r, std::uint64_t pos) {
  auto rec = r.get(pos, kEocdSize);
  if (!rec) return std::nullopt;
  EndRecord e;
  e.pos = pos;
  const char* p = rec->data();
  e.disk = le16(p + 4);
  e.cd_disk = le16(p + 6);
  e.entries_disk = le16(p + 8);
  e.entries_total = le16(p + 10);
  e.cd_size = le32(p + 12);
  e.cd_offset = le32(p + 16);
  e.comment_len = le16(p + 20);
  e.cd_limit = pos;
  if (pos >= kLocatorSize) {
    auto loc = r.get(pos - kLocatorSize, kLocatorSize);
    if (loc && le32(loc->data()) == kZip64LocatorSig) {
      e.has_locator = true;
      e.cd_limit = pos - kLocatorSize;
      std::uint64_t z = le64(loc->data() + 8);
      auto z64 = (z <= pos - kLocatorSize && pos - kLocatorSize - z >= kZip64EocdSize)
                     ? r.get(z, kZip64EocdSize)
                     : std::nullopt;
      if (!z64 || le32(z64->data()) != kZip64EocdSig) {
        e.zip64_bad = true;
        e.zip64_problem = "ZIP64 locator points to no ZIP64 end record";
      } else {
        const char* q = z64->data();
        std::uint64_t rec_size = le64(q + 4);
        if (rec_size < kZip64EocdSize - 12 || rec_size > pos - kLocatorSize - z - 12) {
          e.zip64_bad = true;
          e.zip64_problem = "ZIP64 end record size field is " + num(rec_size);
        } else {
          std::uint32_t disk = le32(q + 16), cd_disk = le32(q + 20);
          std::uint64_t entries_disk = le64(q + 24), entries_total = le64(q + 32);
          std::uint64_t cd_size = le64(q + 40), cd_offset = le64(q + 48);
          // The 32-bit fields must be saturated or equal to the ZIP64 values: a reader that
          // ignores ZIP64 must not see another directory.
          auto agrees = [](std::uint64_t v32, std::uint64_t sat, std::uint64_t v64) {
            return v32 == sat || v32 == v64;
          };
          if (!agrees(e.entries_total, 0xFFFF, entries_total) ||
              !agrees(e.cd_size, 0xFFFFFFFF, cd_size) ||
              !agrees(e.cd_offset, 0xFFFFFFFF, cd_offset)) {
            e.zip64_bad = true;
            e.zip64_problem = "end record and ZIP64 end record disagree";
          }
          e.zip64 = true;
          e.disk = disk;
          e.cd_disk = cd_disk;
          e.entries_disk = entries_disk;
          e.entries_total = entries_total;
          e.cd_size = cd_size;
          e.cd_offset = cd_offset;
          e.zip64_pos = z;
          e.zip64_len = rec_size + 12;
          e.cd_limit = z;
        }
      }
    }
  }
  if (e.cd_offset > e.cd_limit || e.cd_size > e.cd_limit - e.cd_offset) return e;
  e.shift = e.cd_limit - e.cd_size - e.cd_offset;
  if (e.entries_total == 0 && e.cd_size == 0) {
    e.cd_found = true;
    return e;
  }
  auto s = r.sig(e.cd_offset);
  if (s && *s == kCentralSig) {
    e.cd_found = true;
  } else if (e.shift > 0) {
    auto t = r.sig(e.cd_offset + e.shift);
    if (t && *t == kCentralSig) {
      e.cd_found = true;
      e.shifted = true;
    }
  }
  return e;
}

struct EndSearch {
  std::optional<EndRecord> chosen;  // the last consistent record, else the last candidate
  int candidates = 0;
  int consistent = 0;
};

EndSearch searchEnd(Reader& r) {
  EndSearch out;
  const std::uint64_t size = r.size();
  if (size < kEocdSize) return out;
  const std::uint64_t tail_len = std::min(size, kEocdSearch);
  const std::uint64_t tail_start = size - tail_len;
  auto tail = r.get(tail_start, tail_len);
  if (!tail) return out;
  std::optional<EndRecord> fallback;
  for (std::uint64_t i = tail_len - kEocdSize + 1; i-- > 0;) {
    if (le32(tail->data() + i) != kEocdSig) continue;
    auto e = parseEnd(r, tail_start + i);
    if (!e) continue;
    if (++out.candidates > kMaxEndCandidates) break;
    if (e->cd_found) {
      ++out.consistent;
      if (!out.chosen) out.chosen = e;
    } else if (!fallback) {
      fallback = e;
    }
  }
  if (!out.chosen) out.chosen = fallback;
  return out;
}

// Local header fields.
struct LocalHeader {
  std::uint16_t flags = 0, method = 0;
  std::uint32_t crc = 0;
  std::uint64_t csize = 0, usize = 0;
  std::string name;
  std::uint64_t data_offset = 0;
  bool zip64_extra_ok = true;
};

std::optional<LocalHeader> parseLocal(Reader& r, std::uint64_t pos) {
  auto h = r.get(pos, kLocalSize);
  if (!h || le32(h->data()) != kLocalSig) return std::nullopt;
  const char* p = h->data();
  LocalHeader lh;
  lh.flags = le16(p + 6);
  lh.method = le16(p + 8);
  lh.crc = le32(p + 14);
  lh.csize = le32(p + 18);
  lh.usize = le32(p + 22);
  std::uint16_t n = le16(p + 26), m = le16(p + 28);
  auto name = r.get(pos + kLocalSize, n);
  auto extra = r.get(pos + kLocalSize + n, m);
  if (!name || !extra) return std::nullopt;
  lh.name = std::move(*name);
  Zip64Needs needs{lh.usize == 0xFFFFFFFF, lh.csize == 0xFFFFFFFF, false};
  lh.zip64_extra_ok = applyZip64Extra(*extra, needs, lh.usize, lh.csize, nullptr);
  lh.data_offset = pos + kLocalSize + n + m;
  return lh;
}

// The data descriptor after [.., data_end): its length (0 when none is recognised) and whether
// it matched the expected CRC and sizes.
struct Descriptor {
  std::uint64_t length = 0;
  bool matched = false;
  std::uint32_t crc = 0;
  std::uint64_t csize = 0, usize = 0;
};

bool isStructureSig(std::uint32_t s) {
  return s == kLocalSig || s == kCentralSig || s == kEocdSig || s == kZip64EocdSig ||
         s == kZip64LocatorSig;
}

Descriptor findDescriptor(Reader& r, std::uint64_t at, std::uint32_t crc, std::uint64_t csize,
                          std::uint64_t usize) {
  Descriptor d;
  std::uint64_t avail = at <= r.size() ? std::min<std::uint64_t>(24, r.size() - at) : 0;
  auto b = avail > 0 ? r.get(at, avail) : std::nullopt;
  if (!b) return d;
  const std::string& s = *b;
  bool has_sig = s.size() >= 4 && le32(s.data()) == kDescriptorSig;
  std::size_t base = has_sig ? 4 : 0;
  auto try64 = [&]() {
    if (s.size() < base + 20) return false;
    return le32(s.data() + base) == crc && le64(s.data() + base + 4) == csize &&
           le64(s.data() + base + 12) == usize;
  };
  auto try32 = [&]() {
    if (s.size() < base + 12) return false;
    return le32(s.data() + base) == crc && le32(s.data() + base + 4) == csize &&
           le32(s.data() + base + 8) == usize;
  };
  if (try64()) {
    d.length = base + 20;
    d.matched = true;
  } else if (try32()) {
    d.length = base + 12;
    d.matched = true;
  } else if (has_sig) {
    // Unmatched: keep its length when a structure follows, so ranges stay accurate.
    for (std::uint64_t len : {16u, 24u}) {
      auto next = r.sig(at + len);
      if (next && isStructureSig(*next)) {
        d.length = len;
        break;
      }
    }
  }
  if (d.matched) {
    d.crc = crc;
    d.csize = csize;
    d.usize = usize;
  }
  return d;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string printableName(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  const bool utf8 = isValidUtf8(name);
  std::string out;
  std::size_t i = 0;
  for (; i < name.size() && out.size() < 200; ++i) {
    auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && !utf8)) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (i < name.size()) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out;
}

std::string joinLocation(const std::string& parent, std::string_view child) {
  if (parent.empty()) return std::string(child);
  std::string out = parent;
  out += '/';
  out += child;
  return out;
}

bool zipNameIsUnsafe(std::string_view name) {
  if (name.empty()) return true;
  if (name[0] == '/' || name[0] == '\\') return true;
  if (name.size() >= 2 && name[1] == ':' &&
      ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'))) {
    return true;
  }
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F || c == '\\') return true;
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    if (name.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

std::uint32_t crc32Of(std::string_view bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = static_cast<uInt>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), n);
    done += n;
  }
  return static_cast<std::uint32_t>(crc);
}

std::optional<std::uint64_t> findZipEnd(ByteSource& source) {
  Reader r(source);
  EndSearch s = searchEnd(r);
  if (!s.chosen || !s.chosen->cd_found) return std::nullopt;
  return s.chosen->pos;
}

namespace {

class ZipParser {
 public:
  ZipParser(ByteSource& source, const Limits& limits, const std::string& location, Report& report)
      : r_(source),
        limits_(limits),
        location_(location),
        report_(report),
        sink_(report, location) {}

  ZipArchive run() {
    readDirectory();
    readLocalHeaders();
    checkEntries();
    walkLocal();
    checkLayout();
    if (!r_.ioError().empty()) {
      report_.add(
          {Verdict::Error, "zip.io", "cannot read the archive: " + r_.ioError(), location_, 0});
    }
    return std::move(ar_);
  }

 private:
  std::uint64_t memberBudget() const {
    std::uint64_t used = ar_.entries.size() + ar_.local_only.size();
    return used >= limits_.max_members ? 0 : limits_.max_members - used;
  }
  void memberLimit(std::uint64_t offset) {
    if (member_limit_reported_) return;
    member_limit_reported_ = true;
    sink_.invalid("limit.members",
                  "more than " + num(limits_.max_members) + " records; the rest are not scanned",
                  offset);
  }

  void readDirectory() {
    EndSearch s = searchEnd(r_);
    if (!s.chosen) {
      sink_.invalid("zip.eocd.missing",
                    "no end-of-central-directory record; only local records are read", 0);
      return;
    }
    const EndRecord& e = *s.chosen;
    end_ = e;
    ar_.eocd_offset = e.pos;
    if (s.consistent > 1) {
      sink_.invalid(
          "zip.eocd.multiple",
          num(s.consistent) + " end-of-central-directory records; readers may pick different ones",
          e.pos);
    }
    if (e.zip64_bad) sink_.invalid("zip.zip64.invalid", e.zip64_problem, e.pos);
    std::uint64_t comment_end = e.pos + kEocdSize + e.comment_len;
    if (comment_end > r_.size()) {
      sink_.invalid(
          "zip.eocd.comment-length",
          "archive comment length " + num(e.comment_len) + " runs past the end of the file", e.pos);
    } else if (comment_end < r_.size()) {
      sink_.invalid("zip.trailing-data",
                    num(r_.size() - comment_end) + " bytes after the end of the archive",
                    comment_end);
    }
    if (e.disk != 0 || e.cd_disk != 0 || e.entries_disk != e.entries_total) {
      sink_.invalid("zip.multi-disk", "multi-disk (spanned) archive fields", e.pos);
    }
    if (!e.cd_found) {
      sink_.invalid("zip.cd.missing",
                    "no central directory at offset " + num(e.cd_offset) + " (" + num(e.cd_size) +
                        " bytes); only local records are read",
                    e.pos);
      return;
    }
    if (e.shifted) {
      sink_.invalid("zip.offset-shift",
                    "the central directory is at its offset plus " + num(e.shift) +
                        " bytes before the archive; readers disagree on every offset",
                    e.cd_offset + e.shift);
      shift_ = e.shift;
    }
    ar_.has_directory = true;
    ar_.zip64 = e.zip64;
    ar_.cd_offset = e.cd_offset + shift_;
    ar_.cd_size = e.cd_size;
    parseCentral(e.entries_total);
  }

  void parseCentral(std::uint64_t declared) {
    std::uint64_t p = ar_.cd_offset;
    const std::uint64_t end = ar_.cd_offset + ar_.cd_size;
    bool extra_entries = false;
    for (std::uint64_t i = 0;; ++i) {
      if (i >= declared) {
        // Python's zipfile reads entries while the directory size allows, miniz reads the
        // declared count: entries beyond the count are seen by one and not the other.
        if (p >= end) break;
        auto s = r_.sig(p);
        if (!s || *s != kCentralSig) break;
        if (!extra_entries) {
          extra_entries = true;
          sink_.invalid(
              "zip.cd.count-mismatch",
              "the central directory holds more entries than the " + num(declared) + " declared",
              p);
        }
      }
      if (memberBudget() == 0) {
        memberLimit(p);
        return;
      }
      if (p > end || end - p < kCentralSize) {
        sink_.invalid(
            "zip.cd.truncated",
            "central directory ends after " + num(i) + " of " + num(declared) + " entries", p);
        return;
      }
      auto h = r_.get(p, kCentralSize);
      if (!h) {
        sink_.invalid("zip.cd.truncated", "central directory entry " + num(i) + " cannot be read",
                      p);
        return;
      }
      const char* c = h->data();
      if (le32(c) != kCentralSig) {
        sink_.invalid("zip.cd.bad-signature",
                      "central directory entry " + num(i) + " has no signature", p);
        return;
      }
      std::uint16_t n = le16(c + 28), m = le16(c + 30), k = le16(c + 32);
      if (end - p - kCentralSize < static_cast<std::uint64_t>(n) + m + k) {
        sink_.invalid("zip.cd.truncated",
                      "central directory entry " + num(i) + " runs past the directory", p);
        return;
      }
      auto name = r_.get(p + kCentralSize, n);
      auto extra = r_.get(p + kCentralSize + n, m);
      if (!name || !extra) return;
      ZipEntry e;
      e.index = static_cast<std::uint32_t>(std::min<std::uint64_t>(i, kZipNoIndex - 1));
      e.name = std::move(*name);
      e.flags = le16(c + 8);
      e.method = le16(c + 10);
      e.crc32 = le32(c + 16);
      e.compressed_size = le32(c + 20);
      e.uncompressed_size = le32(c + 24);
      std::uint16_t disk_start = le16(c + 34);
      e.header_offset = le32(c + 42);
      Zip64Needs needs{e.uncompressed_size == 0xFFFFFFFF, e.compressed_size == 0xFFFFFFFF,
                       e.header_offset == 0xFFFFFFFF};
      if (!applyZip64Extra(*extra, needs, e.uncompressed_size, e.compressed_size,
                           &e.header_offset)) {
        sink_.invalid("zip.zip64.invalid",
                      "saturated size/offset fields without a ZIP64 extra field", p, e.name);
      }
      if (disk_start != 0 && disk_start != 0xFFFF) {
        sink_.invalid("zip.multi-disk", "entry starts on disk " + num(disk_start), p, e.name);
      }
      e.header_offset += shift_;
      ar_.entries.push_back(std::move(e));
      p += kCentralSize + n + m + k;
    }
    if (p != end) {
      sink_.invalid(
          "zip.cd.size-mismatch",
          "central directory entries end at " + num(p) + ", the directory size says " + num(end),
          p);
    }
  }

  void readLocalHeaders() {
    for (auto& e : ar_.entries) {
      auto lh = parseLocal(r_, e.header_offset);
      if (!lh) {
        sink_.invalid(
            "zip.local-header.missing",
            "no local header at offset " + num(e.header_offset) + "; the entry cannot be read",
            e.header_offset, e.name);
        continue;
      }
      e.has_local = true;
      e.local_name = std::move(lh->name);
      e.local_flags = lh->flags;
      e.local_method = lh->method;
      e.local_crc32 = lh->crc;
      e.local_compressed_size = lh->csize;
      e.local_uncompressed_size = lh->usize;
      e.data_offset = lh->data_offset;
      if (!lh->zip64_extra_ok) {
        sink_.invalid("zip.zip64.invalid",
                      "local header with saturated sizes and no ZIP64 extra field", e.header_offset,
                      e.name);
      }
      e.readable = r_.fits(e.data_offset, e.compressed_size);
      // An unreadable entry covers its header only (its data cannot be where it says).
      e.data_end =
          e.readable ? e.data_offset + e.compressed_size : std::min(e.data_offset, r_.size());
      if ((e.flags | e.local_flags) & kZipFlagDescriptor) {
        if (e.readable) {
          Descriptor d =
              findDescriptor(r_, e.data_end, e.crc32, e.compressed_size, e.uncompressed_size);
          if (!d.matched) {
            sink_.invalid("zip.descriptor.invalid",
                          "flag 0x08 set but no data descriptor matching the central CRC and sizes",
                          e.data_end, e.name);
          }
          e.data_end += d.length;
        }
      }
      // Local sizes of zero (with or without a descriptor) describe no other data to scan.
      e.local_view_differs =
          e.local_method != e.method ||
          (e.local_compressed_size != e.compressed_size && e.local_compressed_size != 0);
      e.local_view_readable = r_.fits(e.data_offset, e.local_compressed_size);
    }
  }

  void checkFlags(const ZipEntry& e, std::uint16_t flags, const char* which) {
    if (flags & (kZipFlagEncrypted | kZipFlagStrongEncryption)) {
      sink_.invalid("zip.flags.encrypted",
                    std::string(which) + " header sets encryption flag bits " +
                        hex32(flags & (kZipFlagEncrypted | kZipFlagStrongEncryption)),
                    e.header_offset, e.name);
    }
    if (flags & kZipFlagPatched) {
      sink_.invalid("zip.flags.patched",
                    std::string(which) + " header sets the patched-data flag 0x20", e.header_offset,
                    e.name);
    }
  }

  // Sizes no writer produces. (The inflation ratio limit applies to what is actually inflated,
  // containers.cc: a highly compressible member that is never inflated is no risk.)
  void checkDeclaredSizes(const ZipEntry& e, std::uint16_t method, std::uint64_t csize,
                          std::uint64_t usize) {
    if (method == kZipStored) {
      if (csize != usize) {
        sink_.invalid("zip.size-mismatch",
                      "stored entry with compressed size " + num(csize) +
                          " and uncompressed size " + num(usize),
                      e.header_offset, e.name);
      }
      return;
    }
    // Deflate cannot exceed about 1032:1; nothing legitimate declares a petabyte.
    const bool impossible =
        usize > kMaxPlausibleSize ||
        (method == kZipDeflate &&
         static_cast<U128>(usize) > static_cast<U128>(kMaxDeflateRatio) * csize + kChunk);
    if (impossible) {
      sink_.invalid("zip.size-implausible",
                    "declared sizes " + num(csize) + " -> " + num(usize) + " cannot be true",
                    e.header_offset, e.name);
    }
  }

  void checkEntries() {
    std::unordered_map<std::string, int> names;
    std::unordered_map<std::uint64_t, std::size_t> headers;
    for (std::size_t i = 0; i < ar_.entries.size(); ++i) {
      const ZipEntry& e = ar_.entries[i];
      if (++names[e.name] == 2) {
        sink_.invalid("zip.duplicate-name", "several central directory entries share this name",
                      e.header_offset, e.name);
      }
      auto [it, fresh] = headers.emplace(e.header_offset, i);
      if (!fresh) {
        sink_.invalid(
            "zip.shared-local-header",
            "shares its local header with entry " + printableName(ar_.entries[it->second].name),
            e.header_offset, e.name);
      }
      if (zipNameIsUnsafe(e.name)) {
        sink_.invalid("zip.unsafe-name",
                      "unsafe member name (absolute, '..', backslash or control bytes)",
                      e.header_offset, e.name);
      }
      checkFlags(e, e.flags, "central");
      checkDeclaredSizes(e, e.method, e.compressed_size, e.uncompressed_size);
      if (!e.has_local) continue;
      if (e.local_flags != e.flags) {
        checkFlags(e, e.local_flags & ~e.flags, "local");
        sink_.invalid("zip.local-mismatch.flags",
                      "local flags " + hex32(e.local_flags) + " != central flags " + hex32(e.flags),
                      e.header_offset, e.name);
      }
      if (e.local_name != e.name) {
        if (zipNameIsUnsafe(e.local_name)) {
          sink_.invalid("zip.unsafe-name",
                        "unsafe local header name '" + printableName(e.local_name) + "'",
                        e.header_offset, e.name);
        }
        sink_.invalid("zip.local-mismatch.name",
                      "local header name '" + printableName(e.local_name) + "' != central name",
                      e.header_offset, e.name);
      }
      if (e.local_method != e.method) {
        sink_.invalid("zip.local-mismatch.method",
                      "local method " + num(e.local_method) + " != central method " + num(e.method),
                      e.header_offset, e.name);
      }
      const bool descriptor = e.local_flags & kZipFlagDescriptor;
      if ((!descriptor || e.local_crc32 != 0) && e.local_crc32 != e.crc32) {
        sink_.invalid("zip.local-mismatch.crc",
                      "local CRC " + hex32(e.local_crc32) + " != central CRC " + hex32(e.crc32),
                      e.header_offset, e.name);
      }
      if ((!descriptor || e.local_compressed_size != 0 || e.local_uncompressed_size != 0) &&
          (e.local_compressed_size != e.compressed_size ||
           e.local_uncompressed_size != e.uncompressed_size)) {
        sink_.invalid("zip.local-mismatch.size",
                      "local sizes " + num(e.local_compressed_size) + "/" +
                          num(e.local_uncompressed_size) + " != central sizes " +
                          num(e.compressed_size) + "/" + num(e.uncompressed_size),
                      e.header_offset, e.name);
      }
      if (!e.readable) {
        sink_.invalid("zip.entry-out-of-range",
                      "data (" + num(e.compressed_size) + " bytes at " + num(e.data_offset) +
                          ") runs past the end of the file",
                      e.header_offset, e.name);
      }
    }
  }

  // Parses a record that the central directory does not list; sizes from the local header, or
  // from its data descriptor (found by inflating, or by a bounded search for stored data).
  std::optional<ZipEntry> parseOrphan(std::uint64_t pos) {
    auto lh = parseLocal(r_, pos);
    if (!lh) return std::nullopt;
    ZipEntry e;
    e.name = lh->name;
    e.local_name = lh->name;
    e.flags = e.local_flags = lh->flags;
    e.method = e.local_method = lh->method;
    e.crc32 = e.local_crc32 = lh->crc;
    e.compressed_size = e.local_compressed_size = lh->csize;
    e.uncompressed_size = e.local_uncompressed_size = lh->usize;
    e.header_offset = pos;
    e.has_local = true;
    e.data_offset = lh->data_offset;
    if ((lh->flags & kZipFlagDescriptor) && lh->csize == 0) {
      std::optional<std::uint64_t> csize;
      if (lh->method == kZipDeflate && e.data_offset <= r_.size() && orphan_inflate_ > 0) {
        // Inflated (output discarded) only to find where the stream ends; bounded per archive.
        DecodeLimits dl;
        dl.max_out = orphan_inflate_;
        dl.keep_output = false;
        dl.max_ratio = limits_.max_inflate_ratio;
        DecodeResult d =
            decode(r_.source(), e.data_offset, r_.size() - e.data_offset, Codec::RawDeflate, dl);
        orphan_inflate_ -= std::min(orphan_inflate_, d.produced);
        if (d.status == DecodeStatus::Ok) csize = d.consumed;
      } else if (e.data_offset <= r_.size()) {
        csize = searchDescriptor(e.data_offset);
      }
      if (csize) {
        auto d = r_.get(e.data_offset + *csize, 24);
        if (!d) d = r_.get(e.data_offset + *csize, 16);
        if (d && le32(d->data()) == kDescriptorSig) {
          e.crc32 = le32(d->data() + 4);
          e.compressed_size = *csize;
          e.uncompressed_size = le32(d->data() + 12);
          if (le32(d->data() + 8) != *csize && d->size() >= 24 && le64(d->data() + 8) == *csize) {
            e.uncompressed_size = le64(d->data() + 16);
          }
        } else {
          e.compressed_size = *csize;
        }
      }
    }
    e.readable = r_.fits(e.data_offset, e.compressed_size);
    e.local_view_readable = e.readable;
    e.data_end =
        e.readable ? e.data_offset + e.compressed_size : std::min(e.data_offset, r_.size());
    if (e.readable && (e.flags & kZipFlagDescriptor)) {
      Descriptor d =
          findDescriptor(r_, e.data_end, e.crc32, e.compressed_size, e.uncompressed_size);
      e.data_end += d.length;
    }
    return e;
  }

  // Stored data with a data descriptor: the first descriptor signature whose compressed size
  // equals its distance from the data start.
  std::optional<std::uint64_t> searchDescriptor(std::uint64_t data) {
    const std::uint64_t limit = std::min(r_.size(), data + kDescriptorSearch);
    std::uint64_t pos = data;
    while (pos < limit) {
      std::uint64_t n = std::min<std::uint64_t>(kChunk, limit - pos);
      if (descriptor_search_ + n > kDescriptorSearch) return std::nullopt;  // per archive
      descriptor_search_ += n;
      auto chunk = r_.get(pos, n);
      if (!chunk) return std::nullopt;
      for (std::size_t i = 0; i + 4 <= chunk->size(); ++i) {
        if (le32(chunk->data() + i) != kDescriptorSig) continue;
        std::uint64_t at = pos + i;
        auto d = r_.get(at, 24);
        if (!d) d = r_.get(at, 16);
        if (!d) continue;
        std::uint64_t dist = at - data;
        if (le32(d->data() + 8) == dist || (d->size() >= 24 && le64(d->data() + 8) == dist))
          return dist;
      }
      if (n <= 3) break;
      pos += n - 3;
    }
    return std::nullopt;
  }

  void addOrphan(ZipEntry e) {
    if (memberBudget() == 0) {
      memberLimit(e.header_offset);
      return;
    }
    sink_.invalid(
        "zip.local-only",
        "local record at offset " + num(e.header_offset) + " is not in the central directory",
        e.header_offset, e.name);
    if (zipNameIsUnsafe(e.name)) {
      sink_.invalid("zip.unsafe-name",
                    "unsafe member name (absolute, '..', backslash or control bytes)",
                    e.header_offset, e.name);
    }
    checkFlags(e, e.flags, "local");
    if (!(e.flags & kZipFlagDescriptor) || e.compressed_size != 0) {
      checkDeclaredSizes(e, e.method, e.compressed_size, e.uncompressed_size);
    }
    orphan_offsets_.insert(e.header_offset);
    ar_.local_only.push_back(std::move(e));
  }

  // The streaming reader's view: local headers from offset 0, each skipped by its size.
  void walkLocal() {
    for (std::size_t i = 0; i < ar_.entries.size(); ++i) {
      known_.emplace(ar_.entries[i].header_offset, i);
    }
    const std::uint64_t end = ar_.has_directory ? ar_.cd_offset : r_.size();
    std::uint64_t pos = 0;
    while (pos < end) {
      auto s = r_.sig(pos);
      if (!s || *s != kLocalSig) break;
      auto k = known_.find(pos);
      if (k != known_.end()) {
        const ZipEntry& e = ar_.entries[k->second];
        if (!e.has_local || !e.readable || e.data_end <= pos) break;
        pos = e.data_end;
        continue;
      }
      if (memberBudget() == 0) {
        memberLimit(pos);
        break;
      }
      auto o = parseOrphan(pos);
      if (!o) break;
      std::uint64_t next = o->data_end;
      bool readable = o->readable;
      addOrphan(std::move(*o));
      if (!readable || next <= pos) break;
      pos = next;
    }
  }

  struct Span {
    std::uint64_t begin, end;
    int kind;  // 0 central entry, 1 local-only, 2 structure
    std::size_t idx;
  };

  void collectSpans(std::vector<Span>& spans) {
    spans.clear();
    for (std::size_t i = 0; i < ar_.entries.size(); ++i) {
      const ZipEntry& e = ar_.entries[i];
      if (e.has_local) spans.push_back({e.header_offset, e.data_end, 0, i});
    }
    for (std::size_t i = 0; i < ar_.local_only.size(); ++i) {
      const ZipEntry& e = ar_.local_only[i];
      spans.push_back({e.header_offset, e.data_end, 1, i});
    }
    if (ar_.has_directory) spans.push_back({ar_.cd_offset, ar_.cd_offset + ar_.cd_size, 2, 0});
    if (end_) {
      const EndRecord& e = *end_;
      std::uint64_t end_of_end = std::min(r_.size(), e.pos + kEocdSize + e.comment_len);
      spans.push_back({e.pos, end_of_end, 2, 0});
      if (e.has_locator) spans.push_back({e.pos - kLocatorSize, e.pos, 2, 0});
      if (e.zip64) spans.push_back({e.zip64_pos, e.zip64_pos + e.zip64_len, 2, 0});
    }
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
  }

  std::string spanName(const Span& s) const {
    if (s.kind == 0) return "entry '" + printableName(ar_.entries[s.idx].name) + "'";
    if (s.kind == 1) return "local record '" + printableName(ar_.local_only[s.idx].name) + "'";
    return "the archive directory";
  }

  void checkLayout() {
    std::vector<Span> spans;
    collectSpans(spans);
    // Overlaps (entries sharing one local header are reported once, above).
    std::uint64_t reach = 0;
    std::size_t reach_idx = 0;
    for (std::size_t i = 0; i < spans.size(); ++i) {
      const Span& s = spans[i];
      if (i > 0 && s.begin < reach) {
        const Span& prev = spans[reach_idx];
        bool shared = s.kind == 0 && prev.kind == 0 && s.begin == prev.begin;
        if (!shared) {
          std::string_view member = s.kind == 0   ? std::string_view(ar_.entries[s.idx].name)
                                    : s.kind == 1 ? std::string_view(ar_.local_only[s.idx].name)
                                                  : std::string_view();
          sink_.invalid("zip.overlap", spanName(s) + " overlaps " + spanName(prev), s.begin,
                        member);
        }
      }
      if (s.end > reach) {
        reach = s.end;
        reach_idx = i;
      }
    }
    // Gaps: bytes no structure accounts for. Records hidden there are decoys too.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
    std::uint64_t covered = 0;
    for (const Span& s : spans) {
      if (s.begin > covered) gaps.emplace_back(covered, s.begin);
      covered = std::max(covered, s.end);
    }
    if (!ar_.has_directory && covered < r_.size()) gaps.emplace_back(covered, r_.size());
    // With a directory the bytes after the end record are reported as trailing data already.
    std::uint64_t searched = 0;
    for (auto [begin, end] : gaps) {
      if (end <= begin) continue;
      sink_.invalid("zip.gap",
                    num(end - begin) + " bytes at offset " + num(begin) +
                        " belong to no record of the archive",
                    begin);
      searchGap(begin, end, searched);
    }
    // Bytes after the end record (reported as trailing data) may hide records too.
    if (ar_.has_directory && covered < r_.size()) searchGap(covered, r_.size(), searched);
  }

  void searchGap(std::uint64_t begin, std::uint64_t end, std::uint64_t& searched) {
    std::uint64_t pos = begin;
    while (pos + 4 <= end && searched < kGapSearch) {
      std::uint64_t n = std::min<std::uint64_t>({kChunk, end - pos, kGapSearch - searched});
      auto chunk = r_.get(pos, n);
      if (!chunk) return;
      searched += n;
      std::uint64_t skip_to = 0;
      for (std::size_t i = 0; i + 4 <= chunk->size(); ++i) {
        std::uint64_t at = pos + i;
        if (at < skip_to) continue;
        if (le32(chunk->data() + i) != kLocalSig) continue;
        if (known_.count(at) || orphan_offsets_.count(at)) continue;
        if (memberBudget() == 0) {
          memberLimit(at);
          return;
        }
        auto o = parseOrphan(at);
        if (!o) continue;
        skip_to = o->readable ? o->data_end : at + 4;
        addOrphan(std::move(*o));
      }
      if (n <= 3) break;
      std::uint64_t next = pos + n - 3;
      pos = std::max(next, skip_to);
    }
  }

  Reader r_;
  const Limits& limits_;
  const std::string& location_;
  Report& report_;
  Sink sink_;
  ZipArchive ar_;
  std::optional<EndRecord> end_;
  std::uint64_t shift_ = 0;
  bool member_limit_reported_ = false;
  std::uint64_t descriptor_search_ = 0;
  std::uint64_t orphan_inflate_ = kDescriptorSearch;
  std::unordered_map<std::uint64_t, std::size_t> known_;
  std::unordered_set<std::uint64_t> orphan_offsets_;
};

}  // namespace

ZipArchive readZip(ByteSource& source, const Limits& limits, const std::string& location,
                   Report& report) {
  return ZipParser(source, limits, location, report).run();
}

// ---------------------------------------------------------------------------------------------
// Decoders.

std::string_view codecName(Codec codec) {
  switch (codec) {
    case Codec::Stored:
      return "stored";
    case Codec::RawDeflate:
      return "deflate";
    case Codec::Zlib:
      return "zlib";
    case Codec::Gzip:
      return "gzip";
    case Codec::Bzip2:
      return "bz2";
    case Codec::Xz:
      return "xz";
    case Codec::LzmaAlone:
      return "lzma";
    case Codec::ZipLzma:
      return "zip-lzma";
    case Codec::Deflate64:
      return "deflate64";
    case Codec::Zstd:
      return "zstd";
    case Codec::Lz4:
      return "lz4";
  }
  return "unknown";
}

std::optional<Codec> codecForZipMethod(std::uint16_t method) {
  switch (method) {
    case kZipStored:
      return Codec::Stored;
    case kZipDeflate:
      return Codec::RawDeflate;
    case kZipDeflate64:
      return Codec::Deflate64;
    case kZipBzip2:
      return Codec::Bzip2;
    case kZipLzma:
      return Codec::ZipLzma;
    case kZipZstd:
      return Codec::Zstd;
    case kZipXz:
      return Codec::Xz;
    default:
      return std::nullopt;
  }
}

std::string_view decodeStatusName(DecodeStatus status) {
  switch (status) {
    case DecodeStatus::Ok:
      return "ok";
    case DecodeStatus::OutputLimit:
      return "output limit";
    case DecodeStatus::RatioLimit:
      return "ratio limit";
    case DecodeStatus::Corrupt:
      return "corrupt";
    case DecodeStatus::Truncated:
      return "truncated";
    case DecodeStatus::Unsupported:
      return "unsupported";
    case DecodeStatus::Io:
      return "i/o error";
  }
  return "error";
}

namespace {

constexpr std::uint64_t kLzmaMemLimit = 128ull << 20;

// Input in 64 KiB chunks from [offset, offset + size).
class Input {
 public:
  Input(ByteSource& source, std::uint64_t offset, std::uint64_t size)
      : source_(source), pos_(offset), end_(offset + size), start_(offset), buf_(kChunk) {}
  // Refills when empty; false at the end of the range or on an I/O error (see error()).
  bool refill() {
    if (avail_ > 0) return true;
    if (pos_ >= end_) return false;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, end_ - pos_));
    auto got = source_.read(pos_, std::as_writable_bytes(std::span(buf_.data(), want)));
    if (!got) {
      error_ = got.error().context;
      return false;
    }
    if (*got == 0) {
      error_ = "unexpected end of data";
      return false;
    }
    pos_ += *got;
    next_ = buf_.data();
    avail_ = *got;
    return true;
  }
  unsigned char* next() { return next_; }
  std::size_t avail() const { return avail_; }
  void consume(std::size_t n) {
    next_ += n;
    avail_ -= n;
  }
  std::uint64_t consumed() const { return pos_ - start_ - avail_; }
  bool exhausted() const { return avail_ == 0 && pos_ >= end_; }
  const std::string& error() const { return error_; }
  // Skips zero bytes (gzip padding); true if non-zero input remains.
  bool skipZeros() {
    for (;;) {
      if (!refill()) return false;
      while (avail_ > 0 && *next_ == 0) consume(1);
      if (avail_ > 0) return true;
    }
  }
  // The next n bytes (n <= 8), without consuming them; fewer at the end.
  std::string peek(std::size_t n) {
    std::string out;
    if (!refill()) return out;
    std::size_t take = std::min(n, avail_);
    out.assign(reinterpret_cast<const char*>(next_), take);
    if (take < n && pos_ < end_) {
      auto more = source_.readString(
          pos_, static_cast<std::size_t>(std::min<std::uint64_t>(n - take, end_ - pos_)));
      if (more) out += *more;
    }
    return out;
  }

 private:
  ByteSource& source_;
  std::uint64_t pos_, end_, start_;
  std::vector<unsigned char> buf_;
  unsigned char* next_ = nullptr;
  std::size_t avail_ = 0;
  std::string error_;
};

// Output with the size and ratio limits.
class Output {
 public:
  Output(DecodeResult& result, const DecodeLimits& limits, std::uint64_t input_size)
      : result_(result), limits_(limits), input_size_(input_size), chunk_(kChunk) {}
  unsigned char* chunk() { return chunk_.data(); }
  // Room for the next step: up to one byte beyond max_out so that "more follows" is seen.
  std::size_t room() const {
    std::uint64_t left = limits_.max_out + 1 - result_.produced;
    return static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, left));
  }
  // Takes n bytes from chunk(); false when a limit stops decoding (status set).
  bool take(std::size_t n) {
    std::uint64_t keep = n;
    bool over = false;
    if (result_.produced + n > limits_.max_out) {
      keep = limits_.max_out - result_.produced;
      over = true;
    }
    if (limits_.keep_output)
      result_.bytes.append(reinterpret_cast<const char*>(chunk_.data()), keep);
    result_.produced += keep;
    if (over) {
      result_.status = DecodeStatus::OutputLimit;
      return false;
    }
    if (limits_.max_ratio > 0 && result_.produced > limits_.ratio_min_output &&
        static_cast<U128>(result_.produced) > static_cast<U128>(limits_.max_ratio) * input_size_) {
      result_.status = DecodeStatus::RatioLimit;
      result_.detail = num(result_.produced) + " bytes from " + num(input_size_);
      return false;
    }
    return true;
  }

 private:
  DecodeResult& result_;
  const DecodeLimits& limits_;
  std::uint64_t input_size_;
  std::vector<unsigned char> chunk_;
};

void setError(DecodeResult& res, DecodeStatus status, std::string detail) {
  res.status = status;
  res.detail = std::move(detail);
}

bool ioOrTruncated(DecodeResult& res, Input& in, const char* what) {
  if (!in.error().empty()) {
    setError(res, DecodeStatus::Io, in.error());
  } else {
    setError(res, DecodeStatus::Truncated,
             std::string(what) + " stream ends before its end marker");
  }
  return false;
}

void decodeZlib(Input& in, Output& out, DecodeResult& res, Codec codec) {
  const int bits = codec == Codec::RawDeflate ? -15 : codec == Codec::Zlib ? 15 : 16 + 15;
  z_stream zs{};
  if (inflateInit2(&zs, bits) != Z_OK) {
    setError(res, DecodeStatus::Corrupt, "inflateInit2 failed");
    return;
  }
  struct Guard {
    z_stream* z;
    ~Guard() { inflateEnd(z); }
  } guard{&zs};
  int stalls = 0;
  for (;;) {
    if (!in.refill()) {
      ioOrTruncated(res, in, codecName(codec).data());
      return;
    }
    zs.next_in = in.next();
    zs.avail_in = static_cast<uInt>(in.avail());
    zs.next_out = out.chunk();
    zs.avail_out = static_cast<uInt>(out.room());
    int ret = inflate(&zs, Z_NO_FLUSH);
    std::size_t used = in.avail() - zs.avail_in;
    std::size_t made = out.room() - zs.avail_out;
    in.consume(used);
    if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR || ret == Z_STREAM_ERROR) {
      res.consumed = in.consumed();
      out.take(made);
      setError(res, DecodeStatus::Corrupt, zs.msg != nullptr ? zs.msg : "invalid compressed data");
      return;
    }
    if (!out.take(made)) {
      res.consumed = in.consumed();
      return;
    }
    if (ret == Z_STREAM_END) {
      res.consumed = in.consumed();
      if (codec == Codec::RawDeflate) return;
      // Concatenated streams (Python's gzip and _compression readers continue).
      bool more = codec == Codec::Gzip ? in.skipZeros() : in.refill();
      if (!more) {
        if (!in.error().empty()) setError(res, DecodeStatus::Io, in.error());
        return;
      }
      std::string head = in.peek(2);
      bool next_ok = codec == Codec::Gzip
                         ? head == "\x1f\x8b"
                         : head.size() == 2 && (static_cast<unsigned char>(head[0]) & 0x0F) == 8 &&
                               ((static_cast<unsigned char>(head[0]) << 8) |
                                static_cast<unsigned char>(head[1])) %
                                       31 ==
                                   0;
      if (!next_ok) {
        setError(res, DecodeStatus::Corrupt,
                 "trailing bytes after the last " + std::string(codecName(codec)) + " stream");
        return;
      }
      inflateReset(&zs);
      stalls = 0;
      continue;
    }
    stalls = (used == 0 && made == 0) ? stalls + 1 : 0;
    if (stalls > 2) {
      setError(res, DecodeStatus::Corrupt, "decoder makes no progress");
      return;
    }
  }
}

void decodeBzip2(Input& in, Output& out, DecodeResult& res) {
  bz_stream bs{};
  if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) {
    setError(res, DecodeStatus::Corrupt, "BZ2_bzDecompressInit failed");
    return;
  }
  bool open = true;
  struct Guard {
    bz_stream* b;
    bool* open;
    ~Guard() {
      if (*open) BZ2_bzDecompressEnd(b);
    }
  } guard{&bs, &open};
  int stalls = 0;
  for (;;) {
    if (!in.refill()) {
      ioOrTruncated(res, in, "bz2");
      return;
    }
    bs.next_in = reinterpret_cast<char*>(in.next());
    bs.avail_in = static_cast<unsigned>(in.avail());
    bs.next_out = reinterpret_cast<char*>(out.chunk());
    bs.avail_out = static_cast<unsigned>(out.room());
    int ret = BZ2_bzDecompress(&bs);
    std::size_t used = in.avail() - bs.avail_in;
    std::size_t made = out.room() - bs.avail_out;
    in.consume(used);
    if (ret != BZ_OK && ret != BZ_STREAM_END) {
      res.consumed = in.consumed();
      out.take(made);
      setError(res, DecodeStatus::Corrupt, "invalid bz2 data (" + std::to_string(ret) + ")");
      return;
    }
    if (!out.take(made)) {
      res.consumed = in.consumed();
      return;
    }
    if (ret == BZ_STREAM_END) {
      res.consumed = in.consumed();
      if (!in.refill()) {
        if (!in.error().empty()) setError(res, DecodeStatus::Io, in.error());
        return;
      }
      if (in.peek(3) != "BZh") {
        setError(res, DecodeStatus::Corrupt, "trailing bytes after the last bz2 stream");
        return;
      }
      BZ2_bzDecompressEnd(&bs);
      bs = bz_stream{};
      if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) {
        open = false;
        setError(res, DecodeStatus::Corrupt, "BZ2_bzDecompressInit failed");
        return;
      }
      stalls = 0;
      continue;
    }
    stalls = (used == 0 && made == 0) ? stalls + 1 : 0;
    if (stalls > 2) {
      setError(res, DecodeStatus::Corrupt, "decoder makes no progress");
      return;
    }
  }
}

lzma_ret initLzma(lzma_stream& ls, Codec codec, Input& in, DecodeResult& res,
                  std::uint64_t max_out) {
  switch (codec) {
    case Codec::Xz:
      return lzma_stream_decoder(&ls, kLzmaMemLimit, LZMA_CONCATENATED);
    case Codec::LzmaAlone:
      return lzma_alone_decoder(&ls, kLzmaMemLimit);
    case Codec::ZipLzma: {
      // 2-byte version, 2-byte properties size, properties (5 bytes for LZMA1).
      std::string head = in.peek(4);
      if (head.size() < 4) {
        setError(res, DecodeStatus::Truncated, "zip LZMA header truncated");
        return LZMA_DATA_ERROR;
      }
      std::uint16_t props_size = le16(head.data() + 2);
      if (props_size != 5) {
        setError(res, DecodeStatus::Corrupt,
                 "zip LZMA properties size " + std::to_string(props_size));
        return LZMA_DATA_ERROR;
      }
      std::string all = in.peek(9);
      if (all.size() < 9) {
        setError(res, DecodeStatus::Truncated, "zip LZMA header truncated");
        return LZMA_DATA_ERROR;
      }
      // Consume the header (it may straddle the input buffer).
      std::size_t left = 9;
      while (left > 0) {
        if (!in.refill()) return LZMA_DATA_ERROR;
        std::size_t n = std::min(left, in.avail());
        in.consume(n);
        left -= n;
      }
      lzma_filter filters[2];
      filters[0].id = LZMA_FILTER_LZMA1;
      filters[0].options = nullptr;
      filters[1].id = LZMA_VLI_UNKNOWN;
      filters[1].options = nullptr;
      lzma_ret pr = lzma_properties_decode(
          &filters[0], nullptr, reinterpret_cast<const std::uint8_t*>(all.data() + 4), 5);
      if (pr != LZMA_OK) {
        setError(res, DecodeStatus::Corrupt, "invalid zip LZMA properties");
        return pr;
      }
      auto* opts = static_cast<lzma_options_lzma*>(filters[0].options);
      // The window never needs to exceed the output we accept: clamp what the header asks.
      std::uint64_t cap = std::max<std::uint64_t>(max_out, LZMA_DICT_SIZE_MIN);
      if (opts->dict_size > cap)
        opts->dict_size = static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, 1u << 30));
      lzma_ret r = lzma_raw_decoder(&ls, filters);
      free(filters[0].options);  // allocated by liblzma with malloc
      return r;
    }
    default:
      return LZMA_PROG_ERROR;
  }
}

void decodeLzma(Input& in, Output& out, DecodeResult& res, Codec codec, std::uint64_t max_out) {
  lzma_stream ls = LZMA_STREAM_INIT;
  struct Guard {
    lzma_stream* l;
    ~Guard() { lzma_end(l); }
  } guard{&ls};
  if (lzma_ret r = initLzma(ls, codec, in, res, max_out); r != LZMA_OK) {
    if (res.status == DecodeStatus::Ok)
      setError(res, DecodeStatus::Corrupt, "LZMA decoder init failed");
    return;
  }
  int stalls = 0;
  for (;;) {
    const bool have = in.refill();
    if (!have && !in.error().empty()) {
      setError(res, DecodeStatus::Io, in.error());
      return;
    }
    ls.next_in = have ? in.next() : nullptr;
    ls.avail_in = have ? in.avail() : 0;
    ls.next_out = out.chunk();
    ls.avail_out = out.room();
    lzma_ret ret = lzma_code(&ls, have ? LZMA_RUN : LZMA_FINISH);
    std::size_t used = (have ? in.avail() : 0) - ls.avail_in;
    std::size_t made = out.room() - ls.avail_out;
    if (have) in.consume(used);
    if (ret != LZMA_OK && ret != LZMA_STREAM_END && ret != LZMA_BUF_ERROR) {
      res.consumed = in.consumed();
      out.take(made);
      setError(res, DecodeStatus::Corrupt,
               ret == LZMA_MEMLIMIT_ERROR ? "LZMA dictionary above the memory limit"
                                          : "invalid LZMA data");
      return;
    }
    if (!out.take(made)) {
      res.consumed = in.consumed();
      return;
    }
    if (ret == LZMA_STREAM_END) {
      res.consumed = in.consumed();
      if (codec != Codec::LzmaAlone) return;  // xz handles concatenation itself; zip: one stream
      if (!in.refill()) return;
      // Another .lzma stream: only if it parses (Python ignores trailing garbage).
      lzma_end(&ls);
      ls = LZMA_STREAM_INIT;
      if (lzma_alone_decoder(&ls, kLzmaMemLimit) != LZMA_OK) {
        setError(res, DecodeStatus::Corrupt, "LZMA decoder init failed");
        return;
      }
      stalls = 0;
      continue;
    }
    if (!have) {
      if (made > 0) continue;  // flushing
      // Input is over. A raw zip LZMA stream without an end marker ends with its input.
      res.consumed = in.consumed();
      if (codec != Codec::ZipLzma) {
        setError(res, DecodeStatus::Truncated, "LZMA stream ends before its end marker");
      }
      return;
    }
    stalls = (used == 0 && made == 0) ? stalls + 1 : 0;
    if (stalls > 2) {
      setError(res, DecodeStatus::Corrupt, "decoder makes no progress");
      return;
    }
  }
}

}  // namespace

DecodeResult decode(ByteSource& source, std::uint64_t offset, std::uint64_t size, Codec codec,
                    const DecodeLimits& limits) {
  DecodeResult res;
  if (offset > source.size() || size > source.size() - offset) {
    setError(res, DecodeStatus::Truncated, "compressed data runs past the end of its container");
    size = offset > source.size() ? 0 : source.size() - offset;
  }
  if (codec == Codec::Deflate64 || codec == Codec::Zstd || codec == Codec::Lz4) {
    setError(res, DecodeStatus::Unsupported, std::string(codecName(codec)) + " is not supported");
    return res;
  }
  const DecodeStatus pre = res.status;
  const std::string pre_detail = res.detail;
  res.status = DecodeStatus::Ok;
  Input in(source, offset, size);
  Output out(res, limits, size);
  switch (codec) {
    case Codec::Stored: {
      for (;;) {
        if (!in.refill()) {
          if (!in.error().empty()) setError(res, DecodeStatus::Io, in.error());
          break;
        }
        std::size_t n = std::min(in.avail(), out.room());
        std::memcpy(out.chunk(), in.next(), n);
        in.consume(n);
        if (!out.take(n)) break;
      }
      res.consumed = in.consumed();
      break;
    }
    case Codec::RawDeflate:
    case Codec::Zlib:
    case Codec::Gzip:
      decodeZlib(in, out, res, codec);
      break;
    case Codec::Bzip2:
      decodeBzip2(in, out, res);
      break;
    case Codec::Xz:
    case Codec::LzmaAlone:
    case Codec::ZipLzma:
      decodeLzma(in, out, res, codec, limits.max_out);
      break;
    default:
      break;
  }
  if (res.status == DecodeStatus::Ok && pre != DecodeStatus::Ok) {
    res.status = pre;
    res.detail = pre_detail;
  }
  return res;
}

}  // namespace hubgate::scan
