#include "scan/pickle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "scan/pickle_names.h"

namespace hubgate::scan {
namespace {

namespace fs = std::filesystem;

const std::string kSamples = std::string(HUBGATE_SOURCE_DIR) + "/tests/scan_samples/pickle/";

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string sample(const std::string& stem) {
  std::string path = kSamples + stem + ".pkl";
  EXPECT_TRUE(fs::exists(path)) << path << " missing: run tests/scan_samples/gen_pickle.py";
  return readFile(path);
}

std::string le(std::uint64_t v, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
  return out;
}

struct Walked {
  Report report;
  PickleOutcome outcome;
};

struct Options {
  bool torch = false;
  bool trailing_ok = false;
  std::vector<std::string> profiles;
  const Limits* limits = nullptr;
};

Walked walk(ByteSource& src, const Options& o = {}) {
  static const Limits kDefault;
  PickleContext ctx;
  ctx.limits = o.limits ? o.limits : &kDefault;
  ctx.torch_container = o.torch;
  ctx.trailing_data_ok = o.trailing_ok;
  ctx.extra_profiles = o.profiles;
  Walked w;
  w.outcome = walkPickle(src, 0, ctx, w.report);
  return w;
}

Walked walkBytes(const std::string& bytes, const Options& o = {}) {
  MemorySource src(bytes);
  return walk(src, o);
}

bool hasRule(const Report& r, std::string_view rule) {
  return std::any_of(r.findings.begin(), r.findings.end(),
                     [&](const Finding& f) { return f.rule == rule; });
}

bool hasMessage(const Report& r, std::string_view text) {
  return std::any_of(r.findings.begin(), r.findings.end(),
                     [&](const Finding& f) { return f.message.find(text) != std::string::npos; });
}

std::string dump(const Report& r) {
  std::string out = std::string(verdictName(r.verdict)) + ": ";
  for (const auto& f : r.findings) {
    out += "[" + std::string(verdictName(f.severity)) + " " + f.rule + " @" +
           std::to_string(f.offset) + " " + f.location + ": " + f.message + "] ";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bypass classes of scanning.md §2, one sample each (tests/scan_samples/gen_pickle.py).

struct SampleCase {
  const char* stem;
  Verdict verdict;
  const char* rule;     // a finding with this rule must be present ("" = no check)
  const char* message;  // a finding message must contain this ("" = no check)
  bool torch = false;
};

const SampleCase kBypasses[] = {
    {"os_system_reduce", Verdict::Malicious, "pickle.global.denylisted", "os.system via GLOBAL"},
    {"posix_system_stack_global", Verdict::Malicious, "pickle.global.denylisted",
     "os.system via STACK_GLOBAL (raw posix.system)"},
    {"nt_system", Verdict::Malicious, "pickle.global.denylisted",
     "os.system via GLOBAL (raw nt.system)"},
    {"py2_builtin_eval_p0", Verdict::Malicious, "pickle.global.denylisted",
     "builtins.eval via GLOBAL (raw __builtin__.eval)"},
    {"py2_commands_getoutput_p1", Verdict::Malicious, "pickle.global.denylisted",
     "subprocess.getoutput via GLOBAL (raw commands.getoutput)"},
    {"py2_commands_getoutput_p2", Verdict::Malicious, "pickle.global.denylisted",
     "subprocess.getoutput"},
    {"memo_operands", Verdict::Malicious, "pickle.global.denylisted", "os.system via STACK_GLOBAL"},
    {"stack_global_offset0", Verdict::Malicious, "pickle.global.denylisted",
     "os.system via STACK_GLOBAL"},
    {"stack_global_call_operand", Verdict::Malicious, "pickle.dynamic-import", ""},
    {"stack_global_bytes_operands", Verdict::Malicious, "pickle.dynamic-import", ""},
    {"dotted_logging_os_system", Verdict::Malicious, "pickle.global.denylisted",
     "logging.os.system via STACK_GLOBAL"},
    {"dotted_print_self_exec", Verdict::Malicious, "pickle.global.dunder", "__self__"},
    {"numpy_dunder_builtins", Verdict::Malicious, "pickle.global.dunder", "numpy.__builtins__"},
    {"inst_os_system", Verdict::Malicious, "pickle.global.denylisted", "os.system via INST"},
    {"obj_os_system", Verdict::Malicious, "pickle.global.denylisted", "os.system via GLOBAL"},
    {"newobj_ex_popen", Verdict::Malicious, "pickle.global.denylisted",
     "subprocess.Popen via STACK_GLOBAL"},
    {"ext1", Verdict::Malicious, "pickle.ext-import", "EXT1"},
    {"payload_then_garbage", Verdict::Malicious, "pickle.error-after-finding", ""},
    {"two_pickles_payload_second", Verdict::Malicious, "pickle.global.denylisted",
     "os.system via GLOBAL"},
    {"getattr_call_result", Verdict::Malicious, "pickle.call-of-call-result", "builtins.getattr"},
    {"attrgetter_call_result", Verdict::Malicious, "pickle.call-of-call-result",
     "operator.attrgetter"},
    {"build_on_global", Verdict::Malicious, "pickle.build-on-global", "collections.OrderedDict"},
    {"numpy_size_gadget", Verdict::Malicious, "pickle.build-on-global", "numpy.size"},
    {"numpy_build_only", Verdict::Malicious, "pickle.build-on-global", "numpy.size"},
    {"numpy_prod_gadget", Verdict::Malicious, "pickle.dynamic-import", ""},
    {"partial_torch_load", Verdict::Malicious, "pickle.call-of-call-result", "functools.partial"},
    {"pip_main", Verdict::Malicious, "pickle.global.denylisted", "pip.main"},
    {"pty_spawn", Verdict::Malicious, "pickle.global.denylisted", "pty.spawn"},
    {"logging_filehandler", Verdict::Malicious, "pickle.global.denylisted", "logging.FileHandler"},
    {"asyncio_unix_events", Verdict::Malicious, "pickle.global.denylisted",
     "asyncio.unix_events._UnixSelectorEventLoop"},
    {"pkgutil_resolve_name", Verdict::Malicious, "pickle.call-of-call-result",
     "pkgutil.resolve_name"},
    {"pydoc_locate", Verdict::Malicious, "pickle.call-of-call-result", "pydoc.locate"},
    {"importlib_import_module", Verdict::Malicious, "pickle.global.denylisted",
     "importlib.import_module"},
    {"marshal_function", Verdict::Malicious, "pickle.global.denylisted", "marshal.loads"},
    {"codecs_encode_rot13", Verdict::Malicious, "pickle.codecs-encode-args", "'rot13'"},
    {"memo_missing", Verdict::Invalid, "pickle.memo-missing", "index 5"},
    {"memo_missing_after_finding", Verdict::Malicious, "pickle.error-after-finding", ""},
    {"len_2_62", Verdict::Invalid, "limit.pickle-length", "4611686018427387904"},
    {"frame_too_long", Verdict::Invalid, "limit.pickle-length", "FRAME"},
    {"frame_too_short", Verdict::Suspicious, "pickle.frame-mismatch", ""},
    {"proto_repeated", Verdict::Suspicious, "pickle.proto-repeated", ""},
    {"proto_misplaced", Verdict::Suspicious, "pickle.proto-misplaced", ""},
    {"persid_outside_torch", Verdict::Suspicious, "pickle.persid-outside-torch", ""},
    {"next_buffer", Verdict::Invalid, "pickle.out-of-band-buffer", ""},
    {"load_from_bytes_nested_payload", Verdict::Malicious, "pickle.global.denylisted",
     "os.system via GLOBAL"},
    {"rebuild_from_type_call_result", Verdict::Malicious, "pickle.call-of-call-result",
     "torch._tensor._rebuild_from_type_v2"},
    {"torch_data", Verdict::Suspicious, "pickle.persid-outside-torch",
     ""},  // same file, no torch context
};

class PickleBypass : public ::testing::TestWithParam<SampleCase> {};

TEST_P(PickleBypass, Verdict) {
  const SampleCase& c = GetParam();
  Options o;
  o.torch = c.torch;
  Walked w = walkBytes(sample(c.stem), o);
  EXPECT_EQ(w.report.verdict, c.verdict) << dump(w.report);
  if (*c.rule) {
    EXPECT_TRUE(hasRule(w.report, c.rule)) << "want " << c.rule << "; " << dump(w.report);
  }
  if (*c.message) {
    EXPECT_TRUE(hasMessage(w.report, c.message))
        << "want '" << c.message << "'; " << dump(w.report);
  }
}

INSTANTIATE_TEST_SUITE_P(Pickle, PickleBypass, ::testing::ValuesIn(kBypasses),
                         [](const ::testing::TestParamInfo<SampleCase>& p) {
                           return std::string(p.param.stem);
                         });

TEST(PickleBypassDetail, StackGlobalAtOffsetZeroReportsItsOffset) {
  Walked w = walkBytes(sample("stack_global_offset0"));
  ASSERT_TRUE(hasRule(w.report, "pickle.global.denylisted")) << dump(w.report);
  for (const auto& f : w.report.findings) {
    if (f.rule == "pickle.global.denylisted") {
      EXPECT_EQ(f.offset, 12u);  // su('os') + su('system')
    }
  }
}

TEST(PickleBypassDetail, PayloadBeforeGarbageKeepsTheFinding) {
  Walked w = walkBytes(sample("payload_then_garbage"));
  EXPECT_TRUE(hasRule(w.report, "pickle.global.denylisted")) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "pickle.invalid-opcode")) << dump(w.report);
  EXPECT_FALSE(w.outcome.complete);
}

TEST(PickleBypassDetail, SecondPickleIsWalked) {
  Walked w = walkBytes(sample("two_pickles_payload_second"));
  EXPECT_EQ(w.outcome.pickles, 2);
  EXPECT_TRUE(w.outcome.complete);
  ASSERT_FALSE(w.report.findings.empty());
  EXPECT_GT(w.report.findings.front().offset, 10u);
}

TEST(PickleBypassDetail, NestedPayloadCarriesNestedLocation) {
  Walked w = walkBytes(sample("load_from_bytes_nested_payload"));
  ASSERT_TRUE(hasRule(w.report, "pickle.global.denylisted")) << dump(w.report);
  bool nested = false;
  for (const auto& f : w.report.findings)
    nested |= f.location.find("#REDUCE@") != std::string::npos;
  EXPECT_TRUE(nested) << dump(w.report);
}

TEST(PickleBypassDetail, MarshalAndFunctionTypeBothReported) {
  Walked w = walkBytes(sample("marshal_function"));
  EXPECT_TRUE(hasMessage(w.report, "types.FunctionType")) << dump(w.report);
  EXPECT_TRUE(hasMessage(w.report, "marshal.loads")) << dump(w.report);
}

TEST(PickleBypassDetail, NumpyGadgetsFlagEveryStep) {
  Walked size = walkBytes(sample("numpy_size_gadget"));
  EXPECT_TRUE(hasRule(size.report, "pickle.global.dunder")) << dump(size.report);
  EXPECT_TRUE(hasRule(size.report, "pickle.call-of-call-result")) << dump(size.report);
  Walked prod = walkBytes(sample("numpy_prod_gadget"));
  EXPECT_TRUE(hasRule(prod.report, "pickle.build-on-global")) << dump(prod.report);
  EXPECT_TRUE(hasRule(prod.report, "pickle.global.dotted")) << dump(prod.report);
}

// ---------------------------------------------------------------------------------------------
// Benign samples: clean, and the differential check against pickletools (<stem>.globals.txt).

std::vector<std::string> benignStems() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kSamples)) {
    std::string name = e.path().filename().string();
    const std::string suffix = ".globals.txt";
    if (name.size() > suffix.size() && name.ends_with(suffix))
      out.push_back(name.substr(0, name.size() - suffix.size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class PickleBenign : public ::testing::TestWithParam<std::string> {};

TEST_P(PickleBenign, CleanAndGlobalsMatchPickletools) {
  const std::string& stem = GetParam();
  Options o;
  o.torch = stem == "torch_data" || stem == "all_opcodes";
  Walked w = walkBytes(sample(stem), o);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  EXPECT_TRUE(w.outcome.complete);
  EXPECT_GE(w.outcome.pickles, 1);
  EXPECT_EQ(w.outcome.globals, lines(readFile(kSamples + stem + ".globals.txt")));
}

INSTANTIATE_TEST_SUITE_P(Pickle, PickleBenign, ::testing::ValuesIn(benignStems()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(PickleBenignSet, CoversEveryProtocol) {
  auto stems = benignStems();
  for (int p = 0; p <= 5; ++p) {
    for (const char* kind : {"plain_p", "types_p", "scalars_p"}) {
      std::string stem = kind + std::to_string(p);
      EXPECT_NE(std::find(stems.begin(), stems.end(), stem), stems.end()) << stem;
    }
  }
  EXPECT_GE(stems.size(), 20u);
}

TEST(PickleTorch, PersistentIdsAndStorageKeys) {
  Options o;
  o.torch = true;
  Walked w = walkBytes(sample("torch_data"), o);
  ASSERT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  ASSERT_EQ(w.outcome.persistent_ids.size(), 3u);
  EXPECT_EQ(w.outcome.persistent_ids[0], "('storage', torch.FloatStorage, '0', 'cpu', 6)");
  EXPECT_EQ(w.outcome.persistent_ids[1], "('storage', torch.HalfStorage, '1', 'cpu', 4)");
  EXPECT_EQ(w.outcome.storage_keys, (std::vector<std::string>{"0", "1", "0"}));
}

TEST(PickleTorch, LoadFromBytesWalksTheNestedPickle) {
  Walked w = walkBytes(sample("load_from_bytes_benign"));
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
}

TEST(PickleJoblib, InlineArraysAreSkipped) {
  Options sklearn;
  sklearn.profiles = {"sklearn"};
  for (const char* stem : {"joblib_aligned_p4", "joblib_unaligned_p2",
                           "joblib_opcode_bytes_aligned", "joblib_object_array"}) {
    Walked w = walkBytes(sample(stem), sklearn);
    EXPECT_EQ(w.report.verdict, Verdict::Clean) << stem << ": " << dump(w.report);
    EXPECT_TRUE(w.outcome.complete) << stem;
    Walked plain = walkBytes(sample(stem));
    EXPECT_EQ(plain.report.verdict, Verdict::Suspicious) << stem << ": " << dump(plain.report);
  }
}

TEST(PickleJoblib, UnalignedArrayBytesThatAreAPayloadAreFlagged) {
  // pickle.load (not joblib.load) reads unaligned array bytes as opcodes.
  Options sklearn;
  sklearn.profiles = {"sklearn"};
  Walked w = walkBytes(sample("joblib_opcode_bytes_unaligned"), sklearn);
  EXPECT_EQ(w.report.verdict, Verdict::Malicious) << dump(w.report);
  EXPECT_TRUE(hasMessage(w.report, "os.system")) << dump(w.report);
}

TEST(PickleJoblib, TruncatedArrayIsInvalid) {
  Options sklearn;
  sklearn.profiles = {"sklearn"};
  std::string bytes = sample("joblib_aligned_p4");
  Walked w = walkBytes(bytes.substr(0, 260), sklearn);
  EXPECT_EQ(w.report.verdict, Verdict::Invalid) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-length")) << dump(w.report);
}

// ---------------------------------------------------------------------------------------------
// Opcode decoding.

TEST(PickleOpcodes, ExactlySixtyEightOpcodesAreRecognised) {
  const std::string known = std::string("(.012FILNPRSVXabcdegh") + "ijlopqrstu}])eGJKMQTU" + "BC" +
                            "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90"
                            "\x91\x92\x93\x94\x95\x96\x97\x98";
  std::string unique = known;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  ASSERT_EQ(unique.size(), 68u);
  int recognised = 0;
  for (int b = 0; b < 256; ++b) {
    Walked w = walkBytes(std::string(1, static_cast<char>(b)));
    bool invalid = hasRule(w.report, "pickle.invalid-opcode");
    bool is_known = known.find(static_cast<char>(b)) != std::string::npos;
    EXPECT_EQ(invalid, !is_known) << "byte " << b << ": " << dump(w.report);
    EXPECT_NE(w.report.verdict, Verdict::Clean) << "byte " << b;
    recognised += !invalid;
  }
  EXPECT_EQ(recognised, 68);
}

TEST(PickleOpcodes, AllOpcodesSampleIsCleanInTorchContext) {
  Options o;
  o.torch = true;
  Walked w = walkBytes(sample("all_opcodes"), o);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  EXPECT_EQ(w.outcome.persistent_ids, (std::vector<std::string>{"foo", "'bar'"}));
}

// A byte string literal with embedded NULs.
#define BYTES(lit) std::string(lit, sizeof(lit) - 1)

struct InlineCase {
  const char* name;
  std::string bytes;
  Verdict verdict;
  const char* rule;
  const char* message;
};

class PickleInline : public ::testing::TestWithParam<InlineCase> {};

TEST_P(PickleInline, Verdict) {
  const InlineCase& c = GetParam();
  Walked w = walkBytes(c.bytes);
  EXPECT_EQ(w.report.verdict, c.verdict) << dump(w.report);
  if (*c.rule) {
    EXPECT_TRUE(hasRule(w.report, c.rule)) << "want " << c.rule << "; " << dump(w.report);
  }
  if (*c.message) {
    EXPECT_TRUE(hasMessage(w.report, c.message))
        << "want '" << c.message << "'; " << dump(w.report);
  }
}

const InlineCase kInline[] = {
    // Protocol 0 text arguments are decoded before they become names.
    {"string_escapes_name", BYTES("\x80\x04S'\\x6fs'\nS'sys\\164em'\n\x93."), Verdict::Malicious,
     "pickle.global.denylisted", "os.system via STACK_GLOBAL"},
    {"unicode_escapes_name", BYTES("\x80\x04V\\u006fs\nV\\U00000073ystem\n\x93."),
     Verdict::Malicious, "pickle.global.denylisted", "os.system"},
    {"string_bad_hex_escape", BYTES("S'\\x6'\n."), Verdict::Invalid, "pickle.bad-argument",
     "escape"},
    {"string_unquoted", BYTES("Sabc\n."), Verdict::Invalid, "pickle.bad-argument", "quoted"},
    {"string_trailing_backslash", BYTES("S'ab\\'\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"unicode_bad_escape", BYTES("V\\u00zz\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"binunicode_bad_utf8", BYTES("X\x02\x00\x00\x00\xc3\x28."), Verdict::Invalid,
     "pickle.bad-argument", "UTF-8"},
    {"binunicode_surrogatepass_ok", BYTES("X\x03\x00\x00\x00\xed\xa0\x80."), Verdict::Clean, "",
     ""},
    {"global_bad_utf8", BYTES("c\xff\nsystem\nN."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"int_line", BYTES("I-12\n."), Verdict::Clean, "", ""},
    {"int_hex_line", BYTES("I0x1f\n."), Verdict::Clean, "", ""},
    {"int_bad", BYTES("I12a\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"long_trailing_l", BYTES("L123L\n."), Verdict::Clean, "", ""},
    {"float_line", BYTES("F-1.5e3\n."), Verdict::Clean, "", ""},
    {"float_nan", BYTES("Fnan\n."), Verdict::Clean, "", ""},
    {"float_bad", BYTES("F1.5x\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    // _pickle.c parses numeric lines as C strings: a NUL ends the number (a differential run
    // against CPython found "L-118...\0junk...L\n" accepted, with an INST os.system after it).
    {"int_nul_terminates", BYTES("I12\x00junk\n."), Verdict::Clean, "", ""},
    {"int_nul_first_is_zero", BYTES("I\x00\n."), Verdict::Clean, "", ""},
    {"long_nul_then_payload", BYTES("(S'id'\nL12\x00xx L\n0ios\nsystem\n."), Verdict::Malicious,
     "pickle.global.denylisted", "os.system via INST"},
    {"long_l_before_nul", BYTES("L12L\x00\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"float_nul_terminates", BYTES("F1.5\x00zz\n."), Verdict::Clean, "", ""},
    {"get_nul_terminates", BYTES("Np0\ng0\x00x\n."), Verdict::Clean, "", ""},
    {"line_without_newline", BYTES("I12"), Verdict::Invalid, "pickle.truncated", ""},
    {"empty", BYTES(""), Verdict::Invalid, "pickle.empty", ""},
    {"no_stop", BYTES("\x80\x02N"), Verdict::Invalid, "pickle.truncated", "no STOP"},
    {"stop_on_empty_stack", BYTES("."), Verdict::Invalid, "pickle.stack-underflow", ""},
    {"stop_above_mark", BYTES("(."), Verdict::Invalid, "pickle.stack-underflow", ""},
    {"pop_removes_mark", BYTES("N(0."), Verdict::Clean, "", ""},
    {"tuple_without_mark", BYTES("Nt."), Verdict::Invalid, "pickle.no-mark", ""},
    {"dict_odd_items",
     BYTES("(K\x01"
           "d."),
     Verdict::Invalid, "pickle.bad-argument", "odd"},
    {"proto_6", BYTES("\x80\x06N."), Verdict::Invalid, "pickle.bad-argument", "protocol"},
    {"binstring_negative", BYTES("T\xff\xff\xff\xff."), Verdict::Invalid, "pickle.bad-argument",
     "negative"},
    {"long4_negative", BYTES("\x8b\xff\xff\xff\xff."), Verdict::Invalid, "pickle.bad-argument",
     "negative"},
    {"binbytes_too_long",
     BYTES("B\x10\x00\x00\x00"
           "abc."),
     Verdict::Invalid, "limit.pickle-length", ""},
    {"put_negative", BYTES("Np-1\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"put_huge_index", BYTES("Np99999999999\n."), Verdict::Invalid, "pickle.memo-index", ""},
    {"get_negative", BYTES("Np0\ng-1\n."), Verdict::Invalid, "pickle.memo-missing", ""},
    {"memoize_counts_entries", BYTES("\x80\x04NK\x01r\x09\x00\x00\x00\x94h\x01."), Verdict::Clean,
     "", ""},
    {"memoize_uses_count_not_index", BYTES("\x80\x04NK\x01r\x09\x00\x00\x00\x94h\x02."),
     Verdict::Invalid, "pickle.memo-missing", ""},
    {"call_of_const", BYTES("\x80\x02K\x01)R."), Verdict::Invalid, "pickle.not-callable", ""},
    {"newobj_of_call_result",
     BYTES("\x80\x02"
           "ccollections\nOrderedDict\n)R)\x81."),
     Verdict::Malicious, "pickle.call-of-call-result", ""},
    {"setitems_on_global",
     BYTES("\x80\x02"
           "cos\nenviron\n(X\x02\x00\x00\x00kkX\x01\x00\x00\x00vu."),
     Verdict::Malicious, "pickle.mutate-global", ""},
    {"appends_on_allowlisted_global",
     BYTES("\x80\x02"
           "ccollections\nOrderedDict\n(K\x01"
           "e."),
     Verdict::Malicious, "pickle.mutate-global", ""},
    {"build_on_unallowlisted_object",
     BYTES("\x80\x02"
           "cfoo\nBar\n)R}b."),
     Verdict::Suspicious, "pickle.build-on-unallowlisted", ""},
    {"not_allowlisted_is_suspicious",
     BYTES("\x80\x02"
           "cfoo\nBar\n)R."),
     Verdict::Suspicious, "pickle.global.not-allowlisted", "foo.Bar via GLOBAL"},
    {"dotted_not_allowlisted",
     BYTES("\x80\x04"
           "\x8c\x0b"
           "collections\x8c\x0f"
           "OrderedDict.foo\x93."),
     Verdict::Suspicious, "pickle.global.dotted", ""},
    {"dotted_allowlisted_prefix_is_not_allowlisted",
     BYTES("\x80\x04\x8c\x05torch\x8c\x0bTensor.view\x93."), Verdict::Suspicious,
     "pickle.global.dotted", ""},
    {"dotted_torch_load", BYTES("\x80\x04\x8c\x05torch\x8c\x12serialization.load\x93."),
     Verdict::Malicious, "pickle.global.denylisted", ""},
    {"codecs_encode_latin1_ok",
     BYTES("\x80\x02"
           "c_codecs\nencode\nX\x02\x00\x00\x00hiX\x06\x00\x00\x00latin1\x86R."),
     Verdict::Clean, "", ""},
    {"codecs_encode_one_arg",
     BYTES("\x80\x02"
           "c_codecs\nencode\nX\x02\x00\x00\x00hi\x85R."),
     Verdict::Malicious, "pickle.codecs-encode-args", ""},
    {"ext2", BYTES("\x80\x02\x83\x01\x02."), Verdict::Malicious, "pickle.ext-import", "EXT2"},
    {"ext4", BYTES("\x80\x02\x84\x01\x00\x00\x00."), Verdict::Malicious, "pickle.ext-import",
     "EXT4"},
    {"ext1_code_zero", BYTES("\x80\x02\x82\x00."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"trailing_garbage_after_pickle", BYTES("N.\xff"), Verdict::Invalid, "pickle.trailing-data",
     ""},
    {"trailing_garbage_after_finding", BYTES("cfoo\nBar\n.\xff"), Verdict::Malicious,
     "pickle.error-after-finding", ""},
    {"frame_empty_is_noop", BYTES("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00N."), Verdict::Clean,
     "", ""},
    {"frame_exact", BYTES("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."), Verdict::Clean, "",
     ""},
    {"frame_inside_frame",
     BYTES("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x95\x02\x00\x00\x00\x00\x00\x00\x00N."),
     Verdict::Suspicious, "pickle.frame-mismatch", ""},
    {"readonly_buffer_underflow", BYTES("\x80\x05\x98."), Verdict::Invalid,
     "pickle.stack-underflow", ""},
    {"setitem_below_mark_like_cpython", BYTES("}K\x01(K\x02s."), Verdict::Invalid,
     "pickle.stack-underflow", ""},
    {"obj_without_class", BYTES("(o."), Verdict::Invalid, "pickle.stack-underflow", ""},
    {"persid_non_ascii", BYTES("P\xc3\xa9\n."), Verdict::Invalid, "pickle.bad-argument", ""},
    {"defaultdict_with_call_result_factory",
     BYTES("\x80\x02"
           "ccollections\ndefaultdict\nccollections\nOrderedDict\n)R\x85R."),
     Verdict::Malicious, "pickle.call-of-call-result", ""},
    {"defaultdict_none_factory",
     BYTES("\x80\x02"
           "ccollections\ndefaultdict\nN\x85R."),
     Verdict::Clean, "", ""},
};

INSTANTIATE_TEST_SUITE_P(Pickle, PickleInline, ::testing::ValuesIn(kInline),
                         [](const ::testing::TestParamInfo<InlineCase>& p) {
                           return std::string(p.param.name);
                         });

// ---------------------------------------------------------------------------------------------
// Streams, limits and the reader.

TEST(PickleStream, TrailingDataToleratedWhereTheContainerSaysSo) {
  std::string bytes = std::string("\x80\x02}q\x00.", 6) + std::string("\x00\x07\x13garbage", 10);
  Options o;
  o.trailing_ok = true;
  Walked w = walkBytes(bytes, o);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  EXPECT_TRUE(w.outcome.complete);
  EXPECT_EQ(w.outcome.pickles, 1);
  EXPECT_EQ(w.outcome.end, 6u);
  Walked strict = walkBytes(bytes);
  EXPECT_EQ(strict.report.verdict, Verdict::Invalid) << dump(strict.report);
  EXPECT_TRUE(hasRule(strict.report, "pickle.trailing-data"));
  EXPECT_FALSE(strict.outcome.complete);
}

TEST(PickleStream, TrailingDataKeepsAPayload) {
  std::string bytes = std::string("N.") + "cos\nsystem\n(S'id'\ntR";  // never reaches STOP
  Options o;
  o.trailing_ok = true;
  Walked w = walkBytes(bytes, o);
  EXPECT_EQ(w.report.verdict, Verdict::Malicious) << dump(w.report);
}

TEST(PickleStream, SeveralCompletePicklesInTrailingMode) {
  std::string bytes = std::string("N.") + "K\x05." + "]." + "\x01\x02";
  Options o;
  o.trailing_ok = true;
  Walked w = walkBytes(bytes, o);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  EXPECT_EQ(w.outcome.pickles, 3);
  EXPECT_EQ(w.outcome.end, 7u);
}

TEST(PickleStream, EachPickleHasItsOwnMemo) {
  Walked w = walkBytes(std::string("Np0\n.") + "g0\n.");
  EXPECT_EQ(w.report.verdict, Verdict::Invalid) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "pickle.trailing-data"));
}

TEST(PickleStream, BeginOffsetIsHonoured) {
  std::string bytes = "garbage" + std::string("cos\nsystem\n.");
  MemorySource src(bytes);
  static const Limits limits;
  PickleContext ctx;
  ctx.limits = &limits;
  ctx.location = "archive/data.pkl";
  Report report;
  PickleOutcome o = walkPickle(src, 7, ctx, report);
  EXPECT_EQ(report.verdict, Verdict::Malicious);
  ASSERT_FALSE(report.findings.empty());
  EXPECT_EQ(report.findings[0].offset, 7u);
  EXPECT_EQ(report.findings[0].location, "archive/data.pkl");
  EXPECT_EQ(o.end, bytes.size());
}

TEST(PickleLimits, DeepMarksHitTheStackLimit) {
  Walked w = walkBytes(std::string(1'000'100, '('));
  EXPECT_EQ(w.report.verdict, Verdict::Error) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-stack"));
}

TEST(PickleLimits, DeepValueStackHitsTheStackLimit) {
  Limits limits;
  limits.max_pickle_stack = 1000;
  Options o;
  o.limits = &limits;
  Walked w = walkBytes(std::string(2000, ']'), o);
  EXPECT_EQ(w.report.verdict, Verdict::Error) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-stack"));
}

TEST(PickleLimits, DeeplyNestedTuplesStayBounded) {
  // 200k nested one-element tuples: kept summaries are depth-capped, so this walks quickly.
  std::string bytes = "N" + std::string(200'000, '\x85') + ".";
  Walked w = walkBytes(bytes);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
}

TEST(PickleLimits, OpcodeCount) {
  Limits limits;
  limits.max_pickle_opcodes = 100;
  Options o;
  o.limits = &limits;
  std::string bytes;
  for (int i = 0; i < 200; ++i) bytes += "N0";
  Walked w = walkBytes(bytes + "N.", o);
  EXPECT_EQ(w.report.verdict, Verdict::Error) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-opcodes"));
}

TEST(PickleLimits, MemoEntries) {
  Limits limits;
  limits.max_pickle_memo = 10;
  Options o;
  o.limits = &limits;
  std::string bytes = "\x80\x04N" + std::string(11, '\x94') + ".";
  Walked w = walkBytes(bytes, o);
  EXPECT_EQ(w.report.verdict, Verdict::Error) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-memo"));
}

std::string loadFromBytes(const std::string& inner) {
  return "\x80\x03"
         "ctorch.storage\n_load_from_bytes\nB" +
         le(inner.size(), 4) + inner + "\x85R.";
}

TEST(PickleLimits, NestedPickleDepth) {
  std::string p = "\x80\x02N.";
  for (int i = 0; i < 5; ++i) p = loadFromBytes(p);
  Walked w = walkBytes(p);
  EXPECT_EQ(w.report.verdict, Verdict::Error) << dump(w.report);
  EXPECT_TRUE(hasRule(w.report, "limit.pickle-nested-depth"));
  std::string ok = loadFromBytes(loadFromBytes(loadFromBytes("\x80\x02N.")));
  EXPECT_EQ(walkBytes(ok).report.verdict, Verdict::Clean) << dump(walkBytes(ok).report);
}

TEST(PickleLimits, ManyFindingsAreCapped) {
  std::string bytes;
  for (int i = 0; i < 5000; ++i) bytes += "cfoo\nBar\n0";
  bytes += "cos\nsystem\n.";
  Walked w = walkBytes(bytes);
  EXPECT_EQ(w.report.verdict, Verdict::Malicious) << w.report.findings.size();
  EXPECT_LE(w.report.findings.size(), 300u);
  EXPECT_TRUE(hasRule(w.report, "pickle.findings-suppressed"));
}

// A source that returns at most `chunk` bytes per read and counts what it reads.
class ChunkySource final : public ByteSource {
 public:
  ChunkySource(ByteSource& inner, std::size_t chunk) : inner_(inner), chunk_(chunk) {}
  std::uint64_t size() const override { return inner_.size(); }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    auto got = inner_.read(offset, out.first(std::min(out.size(), chunk_)));
    if (got) bytes_read += *got;
    return got;
  }
  std::uint64_t bytes_read = 0;

 private:
  ByteSource& inner_;
  std::size_t chunk_;
};

TEST(PickleReader, ShortReadsGiveTheSameReport) {
  for (const auto& e : fs::directory_iterator(kSamples)) {
    if (e.path().extension() != ".pkl") continue;
    std::string bytes = readFile(e.path().string());
    MemorySource mem(bytes);
    Walked whole = walk(mem);
    MemorySource mem2(bytes);
    ChunkySource chunky(mem2, 3);
    Walked pieces = walk(chunky);
    EXPECT_EQ(dump(whole.report), dump(pieces.report)) << e.path();
    EXPECT_EQ(whole.outcome.end, pieces.outcome.end) << e.path();
  }
}

// A large virtual source: a BINBYTES8 header announcing `payload` bytes, zeros, then STOP.
class BigBytesSource final : public ByteSource {
 public:
  explicit BigBytesSource(std::uint64_t payload) : payload_(payload) {
    head_ = std::string("\x80\x04\x8e", 3) + le(payload, 8);
  }
  std::uint64_t size() const override { return head_.size() + payload_ + 1; }
  Result<std::size_t> read(std::uint64_t offset, std::span<std::byte> out) override {
    std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(out.size(), size() - std::min(offset, size())));
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t at = offset + i;
      char c = at < head_.size() ? head_[at] : at == size() - 1 ? '.' : '\0';
      out[i] = static_cast<std::byte>(c);
    }
    bytes_read += n;
    return n;
  }
  std::uint64_t bytes_read = 0;

 private:
  std::string head_;
  std::uint64_t payload_;
};

TEST(PickleReader, LargeBytesPayloadsAreSkippedNotRead) {
  BigBytesSource src(std::uint64_t{3} << 30);  // 3 GiB of bytes
  Walked w = walk(src);
  EXPECT_EQ(w.report.verdict, Verdict::Clean) << dump(w.report);
  EXPECT_TRUE(w.outcome.complete);
  EXPECT_LT(src.bytes_read, 2u << 20);
}

TEST(PickleSniff, LooksLikePickle) {
  for (const char* stem : {"plain_p0", "plain_p1", "plain_p2", "plain_p3", "plain_p4", "plain_p5",
                           "os_system_reduce", "inst_os_system"}) {
    MemorySource src(sample(stem));
    EXPECT_TRUE(looksLikePickle(src)) << stem;
  }
  for (std::string not_pickle :
       {std::string(""), std::string("hello world\n"), std::string("{\"a\": 1}"),
        std::string("PK\x03\x04\x14\x00", 6), std::string("\x80\x07", 2), std::string("\x80", 1),
        std::string("\x93NUMPY", 6), std::string("GGUF\x03\x00\x00\x00", 8)}) {
    MemorySource src(not_pickle);
    EXPECT_FALSE(looksLikePickle(src)) << not_pickle;
  }
  // A first argument far bigger than any sniff window does not hide the stream.
  std::string big = "X" + le(100'000, 4) + std::string(100'000, 'a') + "0cos\nsystem\n(S'id'\ntR.";
  MemorySource big_src(big);
  EXPECT_TRUE(looksLikePickle(big_src));
  MemorySource proto1(std::string("\x80\x01N.", 4));
  EXPECT_TRUE(looksLikePickle(proto1));  // CPython accepts PROTO 0 and 1 too
  std::string prefixed = "xxxx" + sample("plain_p2");
  MemorySource src(prefixed);
  EXPECT_TRUE(looksLikePickle(src, 4));
  EXPECT_FALSE(looksLikePickle(src, 0));
}

// ---------------------------------------------------------------------------------------------
// Names and profiles.

struct NameCase {
  const char* module;
  const char* name;
  int protocol;
  const char* normalised;
};

TEST(PickleNames, NormalisationTable) {
  const NameCase cases[] = {
      {"__builtin__", "eval", 2, "builtins.eval"},
      {"__builtin__", "eval", 4, "builtins.eval"},  // alias even when the loader would not map it
      {"__builtin__", "xrange", 0, "builtins.range"},
      {"__builtin__", "reduce", 1, "functools.reduce"},
      {"copy_reg", "_reconstructor", 1, "copyreg._reconstructor"},
      {"copy_reg", "_reconstructor", 3, "copy_reg._reconstructor"},
      {"cPickle", "loads", 2, "pickle.loads"},
      {"commands", "getoutput", 0, "subprocess.getoutput"},
      {"urllib2", "urlopen", 2, "urllib.request.urlopen"},
      {"urllib", "urlopen", 2, "urllib.request.urlopen"},
      {"exceptions", "ValueError", 2, "builtins.ValueError"},
      {"exceptions", "StandardError", 2, "builtins.Exception"},
      {"multiprocessing", "TimeoutError", 2, "multiprocessing.context.TimeoutError"},
      {"posix", "system", 4, "os.system"},
      {"nt", "system", 4, "os.system"},
      {"_operator", "attrgetter", 4, "operator.attrgetter"},
      {"_pickle", "loads", 4, "pickle.loads"},
      {"_io", "FileIO", 4, "io.FileIO"},
      {"torch._utils", "_rebuild_tensor_v2", 2, "torch._utils._rebuild_tensor_v2"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(normalizePickleGlobal(c.module, c.name, c.protocol).dotted(), c.normalised)
        << c.module << "." << c.name << " @" << c.protocol;
  }
}

struct JudgeCase {
  const char* module;
  const char* name;
  PickleGlobalPolicy policy;
};

TEST(PickleNames, JudgementTable) {
  const JudgeCase cases[] = {
      {"torch._utils", "_rebuild_tensor_v2", PickleGlobalPolicy::Allowed},
      {"torch", "BFloat16Storage", PickleGlobalPolicy::Allowed},
      {"torch", "float32", PickleGlobalPolicy::Allowed},
      {"torch.storage", "UntypedStorage", PickleGlobalPolicy::Allowed},
      {"torch", "per_channel_affine", PickleGlobalPolicy::Allowed},
      {"numpy._core.multiarray", "_reconstruct", PickleGlobalPolicy::Allowed},
      {"collections", "OrderedDict", PickleGlobalPolicy::Allowed},
      {"torch", "load", PickleGlobalPolicy::Denied},
      {"torch.jit.unsupported_tensor_ops", "execWrapper", PickleGlobalPolicy::Denied},
      {"torch._inductor.codecache", "compile_file", PickleGlobalPolicy::Denied},
      {"torch.utils.collect_env", "run", PickleGlobalPolicy::Denied},
      {"asyncio.unix_events", "_UnixSelectorEventLoop", PickleGlobalPolicy::Denied},
      {"multiprocessing.util", "spawnv_passfds", PickleGlobalPolicy::Denied},
      {"numpy.testing._private.utils", "runstring", PickleGlobalPolicy::Denied},
      {"numpy.f2py", "compile", PickleGlobalPolicy::Denied},
      {"uuid", "_get_command_stdout", PickleGlobalPolicy::Denied},
      {"trace", "Trace.run", PickleGlobalPolicy::Denied},
      {"code", "InteractiveInterpreter.runcode", PickleGlobalPolicy::Denied},
      {"logging.handlers", "SysLogHandler", PickleGlobalPolicy::Denied},
      {"builtins", "getattr", PickleGlobalPolicy::Denied},
      {"builtins", "print", PickleGlobalPolicy::NotAllowed},
      {"uuid", "UUID", PickleGlobalPolicy::NotAllowed},
      {"logging", "os.system", PickleGlobalPolicy::Denied},
      {"collections", "OrderedDict.fromkeys", PickleGlobalPolicy::Dotted},
      {"builtins", "print.__self__.exec", PickleGlobalPolicy::Dunder},
      {"numpy", "__builtins__", PickleGlobalPolicy::Dunder},
      {"copyreg", "__newobj__", PickleGlobalPolicy::Allowed},
      {"sklearn.linear_model._logistic", "LogisticRegression", PickleGlobalPolicy::NotAllowed},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(judgePickleGlobal({c.module, c.name}, kPickleDefaultProfiles).policy, c.policy)
        << c.module << "." << c.name;
  }
}

TEST(PickleNames, LongAttributePathsAreJudgedInLinearTime) {
  // A fuzzer found a GLOBAL name of ~300 dots taking seconds (the search was polynomial).
  std::string path;
  for (int i = 0; i < 2000; ++i) path += "a.";
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(judgePickleGlobal({"x", path + "os.system"}, kPickleDefaultProfiles).policy,
            PickleGlobalPolicy::Denied);
  EXPECT_EQ(judgePickleGlobal({"x", path + "b"}, kPickleDefaultProfiles).policy, PickleGlobalPolicy::Dotted);
  EXPECT_EQ(judgePickleGlobal({"x", path + "torch.utils.collect_env.run"}, kPickleDefaultProfiles).policy,
            PickleGlobalPolicy::Denied);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(PickleProfiles, OptInProfiles) {
  std::string joblib =
      "\x80\x04\x8c\x1esklearn.linear_model._logistic\x8c\x12LogisticRegression\x93)\x81}b.";
  EXPECT_EQ(walkBytes(joblib).report.verdict, Verdict::Suspicious)
      << dump(walkBytes(joblib).report);
  Options o;
  o.profiles = {"sklearn"};
  EXPECT_EQ(walkBytes(joblib, o).report.verdict, Verdict::Clean)
      << dump(walkBytes(joblib, o).report);
  std::string args =
      "\x80\x02"
      "ctransformers.training_args\nTrainingArguments\n)\x81}b.";
  EXPECT_EQ(walkBytes(args).report.verdict, Verdict::Suspicious);
  o.profiles = {"hf-training"};
  EXPECT_EQ(walkBytes(args, o).report.verdict, Verdict::Clean) << dump(walkBytes(args, o).report);
  EXPECT_EQ(pickleProfileMask({"unknown"}), kPickleDefaultProfiles);
}

}  // namespace
}  // namespace hubgate::scan
