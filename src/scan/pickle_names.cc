#include "scan/pickle_names.h"

#include <algorithm>
#include <array>
#include <utility>

namespace hubgate::scan {
namespace {

using Pair = std::pair<std::string_view, std::string_view>;

// ---------------------------------------------------------------------------------------------
// CPython's Lib/_compat_pickle.py, as the unpickler applies it (protocol < 3, fix_imports=True):
// NAME_MAPPING for the (module, name) pair first, else IMPORT_MAPPING for the module. These are
// the final dictionaries after the module's own update() calls.

struct NameMap {
  Pair from;
  Pair to;
};

constexpr NameMap kNameMapping[] = {
    {{"__builtin__", "xrange"}, {"builtins", "range"}},
    {{"__builtin__", "reduce"}, {"functools", "reduce"}},
    {{"__builtin__", "intern"}, {"sys", "intern"}},
    {{"__builtin__", "unichr"}, {"builtins", "chr"}},
    {{"__builtin__", "unicode"}, {"builtins", "str"}},
    {{"__builtin__", "long"}, {"builtins", "int"}},
    {{"__builtin__", "basestring"}, {"builtins", "str"}},
    {{"itertools", "izip"}, {"builtins", "zip"}},
    {{"itertools", "imap"}, {"builtins", "map"}},
    {{"itertools", "ifilter"}, {"builtins", "filter"}},
    {{"itertools", "ifilterfalse"}, {"itertools", "filterfalse"}},
    {{"itertools", "izip_longest"}, {"itertools", "zip_longest"}},
    {{"UserDict", "IterableUserDict"}, {"collections", "UserDict"}},
    {{"UserDict", "UserDict"}, {"collections", "UserDict"}},
    {{"UserList", "UserList"}, {"collections", "UserList"}},
    {{"UserString", "UserString"}, {"collections", "UserString"}},
    {{"whichdb", "whichdb"}, {"dbm", "whichdb"}},
    {{"_socket", "fromfd"}, {"socket", "fromfd"}},
    {{"socket", "_socketobject"}, {"socket", "SocketType"}},
    {{"_multiprocessing", "Connection"}, {"multiprocessing.connection", "Connection"}},
    {{"multiprocessing.process", "Process"}, {"multiprocessing.context", "Process"}},
    {{"multiprocessing.forking", "Popen"}, {"multiprocessing.popen_fork", "Popen"}},
    {{"multiprocessing", "AuthenticationError"},
     {"multiprocessing.context", "AuthenticationError"}},
    {{"multiprocessing", "BufferTooShort"}, {"multiprocessing.context", "BufferTooShort"}},
    {{"multiprocessing", "ProcessError"}, {"multiprocessing.context", "ProcessError"}},
    {{"multiprocessing", "TimeoutError"}, {"multiprocessing.context", "TimeoutError"}},
    {{"urllib", "ContentTooShortError"}, {"urllib.error", "ContentTooShortError"}},
    {{"urllib", "getproxies"}, {"urllib.request", "getproxies"}},
    {{"urllib", "pathname2url"}, {"urllib.request", "pathname2url"}},
    {{"urllib", "quote_plus"}, {"urllib.parse", "quote_plus"}},
    {{"urllib", "quote"}, {"urllib.parse", "quote"}},
    {{"urllib", "unquote_plus"}, {"urllib.parse", "unquote_plus"}},
    {{"urllib", "unquote"}, {"urllib.parse", "unquote"}},
    {{"urllib", "url2pathname"}, {"urllib.request", "url2pathname"}},
    {{"urllib", "urlcleanup"}, {"urllib.request", "urlcleanup"}},
    {{"urllib", "urlencode"}, {"urllib.parse", "urlencode"}},
    {{"urllib", "urlopen"}, {"urllib.request", "urlopen"}},
    {{"urllib", "urlretrieve"}, {"urllib.request", "urlretrieve"}},
    {{"urllib2", "HTTPError"}, {"urllib.error", "HTTPError"}},
    {{"urllib2", "URLError"}, {"urllib.error", "URLError"}},
    {{"exceptions", "StandardError"}, {"builtins", "Exception"}},
};

// exceptions.<X> -> builtins.<X> for every Python 2 exception name (PYTHON2_EXCEPTIONS).
constexpr std::string_view kPython2Exceptions[] = {
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BufferError",
    "BytesWarning",
    "DeprecationWarning",
    "EOFError",
    "EnvironmentError",
    "Exception",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "NameError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "ReferenceError",
    "RuntimeError",
    "RuntimeWarning",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
    // Only on Windows builds of CPython; mapping it everywhere is the stricter reading.
    "WindowsError",
};

constexpr Pair kImportMapping[] = {
    {"__builtin__", "builtins"},
    {"copy_reg", "copyreg"},
    {"Queue", "queue"},
    {"SocketServer", "socketserver"},
    {"ConfigParser", "configparser"},
    {"repr", "reprlib"},
    {"tkFileDialog", "tkinter.filedialog"},
    {"tkSimpleDialog", "tkinter.simpledialog"},
    {"tkColorChooser", "tkinter.colorchooser"},
    {"tkCommonDialog", "tkinter.commondialog"},
    {"Dialog", "tkinter.dialog"},
    {"Tkdnd", "tkinter.dnd"},
    {"tkFont", "tkinter.font"},
    {"tkMessageBox", "tkinter.messagebox"},
    {"ScrolledText", "tkinter.scrolledtext"},
    {"Tkconstants", "tkinter.constants"},
    {"Tix", "tkinter.tix"},
    {"ttk", "tkinter.ttk"},
    {"Tkinter", "tkinter"},
    {"markupbase", "_markupbase"},
    {"_winreg", "winreg"},
    {"thread", "_thread"},
    {"dummy_thread", "_dummy_thread"},
    {"dbhash", "dbm.bsd"},
    {"dumbdbm", "dbm.dumb"},
    {"dbm", "dbm.ndbm"},
    {"gdbm", "dbm.gnu"},
    {"xmlrpclib", "xmlrpc.client"},
    {"SimpleXMLRPCServer", "xmlrpc.server"},
    {"httplib", "http.client"},
    {"htmlentitydefs", "html.entities"},
    {"HTMLParser", "html.parser"},
    {"Cookie", "http.cookies"},
    {"cookielib", "http.cookiejar"},
    {"BaseHTTPServer", "http.server"},
    {"test.test_support", "test.support"},
    {"commands", "subprocess"},
    {"urlparse", "urllib.parse"},
    {"robotparser", "urllib.robotparser"},
    {"urllib2", "urllib.request"},
    {"anydbm", "dbm"},
    {"_abcoll", "collections.abc"},
    // Non-mutual additions.
    {"cPickle", "pickle"},
    {"_elementtree", "xml.etree.ElementTree"},
    {"FileDialog", "tkinter.filedialog"},
    {"SimpleDialog", "tkinter.simpledialog"},
    {"DocXMLRPCServer", "xmlrpc.server"},
    {"SimpleHTTPServer", "http.server"},
    {"CGIHTTPServer", "http.server"},
    {"UserDict", "collections"},
    {"UserList", "collections"},
    {"UserString", "collections"},
    {"whichdb", "dbm"},
    {"StringIO", "io"},
    {"cStringIO", "io"},
};

// Canonical names for reporting and policy (§3.4.2), plus C twins of denylisted modules so that
// importing the accelerator module does not dodge the denylist.
constexpr Pair kAliases[] = {
    {"posix", "os"},
    {"nt", "os"},
    {"_operator", "operator"},
    {"_pickle", "pickle"},
    {"cPickle", "pickle"},
    {"_io", "io"},
    {"_pyio", "io"},
    {"__builtin__", "builtins"},
    {"_functools", "functools"},
    {"_socket", "socket"},
    {"_ssl", "ssl"},
    {"_ctypes", "ctypes"},
    {"_asyncio", "asyncio"},
    {"_multiprocessing", "multiprocessing"},
    {"_posixshmem", "multiprocessing"},
    {"_marshal", "marshal"},
    {"_pickle_compat", "pickle"},
};

// ---------------------------------------------------------------------------------------------
// Allowlist: exact (module, name) pairs, one table, each entry tagged with its profiles.

struct AllowEntry {
  std::string_view module;
  std::string_view name;
  unsigned profiles;
  PickleCallRule rule = PickleCallRule::None;
  std::uint8_t forwarded = 0;
};

constexpr bool entryLess(const AllowEntry& a, const AllowEntry& b) {
  return a.module != b.module ? a.module < b.module : a.name < b.name;
}

constexpr unsigned kCore = kPickleProfileCore;
constexpr unsigned kTorch = kPickleProfileTorch;
constexpr unsigned kNumpy = kPickleProfileNumpy;
constexpr unsigned kHf = kPickleProfileHfTraining;
constexpr unsigned kSk = kPickleProfileSklearn;

#define HG_TORCH_STORAGES(mod)                                                                  \
  {mod, "FloatStorage", kTorch}, {mod, "DoubleStorage", kTorch}, {mod, "HalfStorage", kTorch},  \
      {mod, "BFloat16Storage", kTorch}, {mod, "ByteStorage", kTorch},                           \
      {mod, "CharStorage", kTorch}, {mod, "ShortStorage", kTorch}, {mod, "IntStorage", kTorch}, \
      {mod, "LongStorage", kTorch}, {mod, "BoolStorage", kTorch},                               \
      {mod, "ComplexFloatStorage", kTorch}, {                                                   \
    mod, "ComplexDoubleStorage", kTorch                                                         \
  }
#define HG_TORCH_TENSORS(mod)                                                                    \
  {mod, "FloatTensor", kTorch}, {mod, "DoubleTensor", kTorch}, {mod, "HalfTensor", kTorch},      \
      {mod, "BFloat16Tensor", kTorch}, {mod, "ByteTensor", kTorch}, {mod, "CharTensor", kTorch}, \
      {mod, "ShortTensor", kTorch}, {mod, "IntTensor", kTorch}, {mod, "LongTensor", kTorch}, {   \
    mod, "BoolTensor", kTorch                                                                    \
  }

constexpr AllowEntry kAllowUnsorted[] = {
    // core
    {"_codecs", "encode", kCore, PickleCallRule::CodecsEncode},
    {"builtins", "bytearray", kCore},
    {"builtins", "bytes", kCore},  // b"" at protocols 0-2
    {"builtins", "complex", kCore},
    {"builtins", "frozenset", kCore},
    {"builtins", "object", kCore},
    {"builtins", "range", kCore},
    {"builtins", "set", kCore},
    {"builtins", "slice", kCore},
    {"collections", "Counter", kCore},
    {"collections", "OrderedDict", kCore},
    {"collections", "defaultdict", kCore, PickleCallRule::None, 0b1},  // calls its factory later
    {"collections", "deque", kCore},
    {"copyreg", "_reconstructor", kCore, PickleCallRule::None, 0b11},  // base.__new__(cls, ...)
    {"copyreg", "__newobj__", kCore, PickleCallRule::None, 0b1},       // cls.__new__(cls, ...)
    {"copyreg", "__newobj_ex__", kCore, PickleCallRule::None, 0b1},
    // torch: what torch.load(weights_only=True) accepts (torch/_weights_only_unpickler.py).
    {"torch", "Size", kTorch},
    {"torch", "Tensor", kTorch},
    {"torch", "device", kTorch},
    {"torch.nn.parameter", "Parameter", kTorch},
    {"torch.serialization", "_get_layout", kTorch},
    {"torch._tensor", "_rebuild_from_type_v2", kTorch, PickleCallRule::None, 0b11},
    {"torch._tensor", "_rebuild_from_type", kTorch, PickleCallRule::None, 0b11},
    {"torch._utils", "_rebuild_tensor", kTorch},
    {"torch._utils", "_rebuild_tensor_v2", kTorch},
    {"torch._utils", "_rebuild_tensor_v3", kTorch},
    {"torch._utils", "_rebuild_parameter", kTorch},
    {"torch._utils", "_rebuild_parameter_with_state", kTorch},
    {"torch._utils", "_rebuild_qtensor", kTorch},
    {"torch._utils", "_rebuild_sparse_tensor", kTorch},
    {"torch._utils", "_rebuild_sparse_csr_tensor", kTorch},
    {"torch._utils", "_rebuild_meta_tensor_no_storage", kTorch},
    {"torch._utils", "_rebuild_nested_tensor", kTorch},
    {"torch._utils", "_rebuild_wrapper_subclass", kTorch, PickleCallRule::None, 0b1},
    {"torch._utils", "_rebuild_device_tensor_from_numpy", kTorch},
    {"torch._utils", "_rebuild_device_tensor_from_cpu_tensor", kTorch},
    {"torch.storage", "_load_from_bytes", kTorch, PickleCallRule::LoadFromBytes},
    {"torch.storage", "UntypedStorage", kTorch},
    {"torch.storage", "TypedStorage", kTorch},
    {"torch", "UntypedStorage", kTorch},
    {"torch", "TypedStorage", kTorch},
    HG_TORCH_STORAGES("torch"),
    HG_TORCH_STORAGES("torch.cuda"),
    {"torch", "QInt8Storage", kTorch},
    {"torch", "QUInt8Storage", kTorch},
    {"torch", "QInt32Storage", kTorch},
    {"torch", "QUInt4x2Storage", kTorch},
    {"torch", "QUInt2x4Storage", kTorch},
    HG_TORCH_TENSORS("torch"),
    HG_TORCH_TENSORS("torch.cuda"),
    // dtypes (str(dtype) is "torch.<name>"; aliases such as torch.float are the same objects)
    {"torch", "float32", kTorch},
    {"torch", "float", kTorch},
    {"torch", "float64", kTorch},
    {"torch", "double", kTorch},
    {"torch", "float16", kTorch},
    {"torch", "half", kTorch},
    {"torch", "bfloat16", kTorch},
    {"torch", "complex32", kTorch},
    {"torch", "chalf", kTorch},
    {"torch", "complex64", kTorch},
    {"torch", "cfloat", kTorch},
    {"torch", "complex128", kTorch},
    {"torch", "cdouble", kTorch},
    {"torch", "uint8", kTorch},
    {"torch", "uint16", kTorch},
    {"torch", "uint32", kTorch},
    {"torch", "uint64", kTorch},
    {"torch", "int8", kTorch},
    {"torch", "int16", kTorch},
    {"torch", "short", kTorch},
    {"torch", "int32", kTorch},
    {"torch", "int", kTorch},
    {"torch", "int64", kTorch},
    {"torch", "long", kTorch},
    {"torch", "bool", kTorch},
    {"torch", "qint8", kTorch},
    {"torch", "quint8", kTorch},
    {"torch", "qint32", kTorch},
    {"torch", "quint4x2", kTorch},
    {"torch", "quint2x4", kTorch},
    {"torch", "float8_e4m3fn", kTorch},
    {"torch", "float8_e5m2", kTorch},
    {"torch", "float8_e4m3fnuz", kTorch},
    {"torch", "float8_e5m2fnuz", kTorch},
    {"torch", "float8_e8m0fnu", kTorch},
    {"torch", "float4_e2m1fn_x2", kTorch},
    {"torch", "bits1x8", kTorch},
    {"torch", "bits2x4", kTorch},
    {"torch", "bits4x2", kTorch},
    {"torch", "bits8", kTorch},
    {"torch", "bits16", kTorch},
    {"torch", "int1", kTorch},
    {"torch", "int2", kTorch},
    {"torch", "int3", kTorch},
    {"torch", "int4", kTorch},
    {"torch", "int5", kTorch},
    {"torch", "int6", kTorch},
    {"torch", "int7", kTorch},
    {"torch", "uint1", kTorch},
    {"torch", "uint2", kTorch},
    {"torch", "uint3", kTorch},
    {"torch", "uint4", kTorch},
    {"torch", "uint5", kTorch},
    {"torch", "uint6", kTorch},
    {"torch", "uint7", kTorch},
    // layouts and memory formats (plain constants)
    {"torch", "strided", kTorch},
    {"torch", "sparse_coo", kTorch},
    {"torch", "sparse_csr", kTorch},
    {"torch", "sparse_csc", kTorch},
    {"torch", "sparse_bsr", kTorch},
    {"torch", "sparse_bsc", kTorch},
    {"torch", "contiguous_format", kTorch},
    {"torch", "channels_last", kTorch},
    {"torch", "channels_last_3d", kTorch},
    {"torch", "preserve_format", kTorch},
    // quantisation schemes
    {"torch", "per_tensor_affine", kTorch},
    {"torch", "per_tensor_symmetric", kTorch},
    {"torch", "per_channel_affine", kTorch},
    {"torch", "per_channel_symmetric", kTorch},
    {"torch", "per_channel_affine_float_qparams", kTorch},
    // numpy (1.x numpy.core and 2.x numpy._core)
    {"numpy", "ndarray", kNumpy},
    {"numpy", "dtype", kNumpy},
    {"numpy.core.multiarray", "_reconstruct", kNumpy, PickleCallRule::None, 0b1},
    {"numpy._core.multiarray", "_reconstruct", kNumpy, PickleCallRule::None, 0b1},
    {"numpy.core.multiarray", "scalar", kNumpy},
    {"numpy._core.multiarray", "scalar", kNumpy},
    {"numpy.core.numeric", "_frombuffer", kNumpy},
    {"numpy._core.numeric", "_frombuffer", kNumpy},
    // hf-training (opt-in): training_args.bin of transformers/accelerate trainers
    {"transformers.training_args", "TrainingArguments", kHf},
    {"transformers.training_args", "OptimizerNames", kHf},
    {"transformers.training_args_seq2seq", "Seq2SeqTrainingArguments", kHf},
    {"transformers.trainer_utils", "IntervalStrategy", kHf},
    {"transformers.trainer_utils", "SaveStrategy", kHf},
    {"transformers.trainer_utils", "HubStrategy", kHf},
    {"transformers.trainer_utils", "SchedulerType", kHf},
    {"transformers.trainer_utils", "FSDPOption", kHf},
    {"transformers.debug_utils", "DebugOption", kHf},
    {"transformers.trainer_pt_utils", "AcceleratorConfig", kHf},
    {"accelerate.utils.dataclasses", "DistributedType", kHf},
    {"accelerate.state", "DistributedType", kHf},
    // sklearn / joblib (opt-in)
    {"joblib.numpy_pickle", "NumpyArrayWrapper", kSk},
    {"joblib.numpy_pickle", "NDArrayWrapper", kSk},
    {"sklearn.linear_model._base", "LinearRegression", kSk},
    {"sklearn.linear_model._logistic", "LogisticRegression", kSk},
    {"sklearn.linear_model._ridge", "Ridge", kSk},
    {"sklearn.preprocessing._data", "StandardScaler", kSk},
    {"sklearn.preprocessing._data", "MinMaxScaler", kSk},
    {"sklearn.preprocessing._label", "LabelEncoder", kSk},
    {"sklearn.tree._classes", "DecisionTreeClassifier", kSk},
    {"sklearn.tree._classes", "DecisionTreeRegressor", kSk},
    {"sklearn.tree._tree", "Tree", kSk},
    {"sklearn.ensemble._forest", "RandomForestClassifier", kSk},
    {"sklearn.ensemble._forest", "RandomForestRegressor", kSk},
    {"sklearn.pipeline", "Pipeline", kSk},
    {"sklearn.svm._classes", "SVC", kSk},
    {"sklearn.decomposition._pca", "PCA", kSk},
    {"sklearn.feature_extraction.text", "CountVectorizer", kSk},
    {"sklearn.feature_extraction.text", "TfidfVectorizer", kSk},
    {"sklearn.feature_extraction.text", "TfidfTransformer", kSk},
    {"sklearn.neighbors._classification", "KNeighborsClassifier", kSk},
};

#undef HG_TORCH_STORAGES
#undef HG_TORCH_TENSORS

template <std::size_t N>
constexpr std::array<AllowEntry, N> sortAllow(const AllowEntry (&in)[N]) {
  std::array<AllowEntry, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = in[i];
  std::sort(out.begin(), out.end(), entryLess);
  return out;
}

constexpr auto kAllow = sortAllow(kAllowUnsorted);

constexpr bool allowUnique() {
  for (std::size_t i = 1; i < kAllow.size(); ++i) {
    if (!entryLess(kAllow[i - 1], kAllow[i])) return false;
  }
  return true;
}
static_assert(allowUnique(), "duplicate (module, name) pair in the pickle allowlist");

const AllowEntry* findAllowed(std::string_view module, std::string_view name, unsigned profiles) {
  AllowEntry key{module, name, 0};
  auto it = std::lower_bound(kAllow.begin(), kAllow.end(), key, entryLess);
  if (it == kAllow.end() || it->module != module || it->name != name) return nullptr;
  return (it->profiles & profiles) ? &*it : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Denylist (§3.4.5 and the advisories of §2): severity and explanations only. An entry with an
// empty name covers the module and all its submodules; otherwise the exact name and attribute
// paths below it ("Trace.run" under "Trace").

constexpr PickleDenyEntry kDenyUnsorted[] = {
    {"os", "", "operating-system access (shell commands, files, environment)"},
    {"subprocess", "", "runs processes"},
    {"_posixsubprocess", "", "runs processes"},
    {"_winapi", "", "runs processes (Windows API)"},
    {"popen2", "", "runs processes (Python 2)"},
    {"commands", "", "runs shell commands (Python 2)"},
    {"pty", "", "spawns processes on a terminal"},
    {"sys", "", "interpreter internals (modules, path, hooks)"},
    {"builtins", "eval", "evaluates code"},
    {"builtins", "exec", "executes code"},
    {"builtins", "execfile", "executes a file"},
    {"builtins", "compile", "compiles code"},
    {"builtins", "getattr", "reaches any attribute of any object"},
    {"builtins", "setattr", "modifies any object"},
    {"builtins", "delattr", "modifies any object"},
    {"builtins", "__import__", "imports any module"},
    {"builtins", "open", "opens files"},
    {"builtins", "breakpoint", "starts a debugger"},
    {"builtins", "input", "reads the terminal"},
    {"builtins", "globals", "exposes interpreter globals"},
    {"builtins", "locals", "exposes interpreter locals"},
    {"builtins", "vars", "exposes object namespaces"},
    {"builtins", "help", "starts pydoc (pager, imports)"},
    {"builtins", "exit", "terminates the process"},
    {"builtins", "quit", "terminates the process"},
    {"importlib", "", "imports any module"},
    {"_imp", "", "imports any module"},
    {"_frozen_importlib", "", "imports any module"},
    {"_frozen_importlib_external", "", "imports any module"},
    {"zipimport", "", "imports code from archives"},
    {"pkgutil", "", "resolves and imports any name (pkgutil.resolve_name)"},
    {"pydoc", "", "resolves any name (pydoc.locate) and runs pagers"},
    {"runpy", "", "runs modules and scripts"},
    {"code", "", "runs Python source (InteractiveInterpreter.runcode)"},
    {"codeop", "", "compiles Python source"},
    {"marshal", "", "loads code objects"},
    {"types", "", "builds code and function objects"},
    {"ctypes", "", "calls native code"},
    {"cffi", "", "calls native code"},
    {"operator", "attrgetter", "reaches attributes of run-time values"},
    {"operator", "methodcaller", "calls methods of run-time values"},
    {"operator", "itemgetter", "reaches items of run-time values"},
    {"functools", "partial", "defers a call (callable wrapper)"},
    {"functools", "partialmethod", "defers a call (callable wrapper)"},
    {"pickle", "", "unpickles nested data"},
    {"dill", "", "unpickles nested data and code"},
    {"cloudpickle", "", "unpickles nested data and code"},
    {"shelve", "", "unpickles nested data"},
    {"joblib", "load", "unpickles nested data"},
    {"joblib.numpy_pickle", "load", "unpickles nested data"},
    {"numpy", "load", "loads nested pickles (allow_pickle)"},
    {"numpy.lib.npyio", "load", "loads nested pickles (allow_pickle)"},
    {"numpy.f2py", "", "compiles and runs code"},
    {"numpy.testing", "", "runs code (runstring)"},
    {"numpy.distutils", "", "runs compilers"},
    {"torch", "load", "unpickles nested data"},
    {"torch.serialization", "load", "unpickles nested data"},
    {"torch.hub", "", "downloads and runs code"},
    {"torch.jit", "", "compiles and runs code (execWrapper)"},
    {"torch._inductor", "", "compiles and runs code (codecache.compile_file)"},
    {"torch._dynamo", "", "compiles and runs code"},
    {"torch.utils.collect_env", "", "runs shell commands"},
    {"torch.utils.cpp_extension", "", "compiles and loads native code"},
    {"torch.package", "", "imports packaged code"},
    {"torch.ops", "", "loads native libraries (ops.load_library) and runs custom ops"},
    {"torch.classes", "", "loads native libraries"},
    {"torch.library", "", "registers and runs custom ops"},
    {"torch", "compile", "compiles and runs code"},
    {"numpy.ctypeslib", "", "loads native libraries"},
    {"numpy", "memmap", "creates and maps files"},
    {"numpy", "fromfile", "reads files"},
    {"pandas", "read_pickle", "unpickles nested data"},
    {"pandas", "read_csv", "reads files and URLs"},
    {"pandas.io", "", "reads files and URLs"},
    {"mlflow.projects", "", "runs commands (_run_entry_point)"},
    {"transformers.dynamic_module_utils", "", "imports code downloaded from the Hub"},
    {"transformers.models.auto.auto_factory", "getattribute_from_module", "resolves any name"},
    {"huggingface_hub", "", "downloads from the Hub"},
    {"socket", "", "network access"},
    {"ssl", "", "network access (DNS exfiltration)"},
    {"http", "", "network access"},
    {"urllib", "", "network access"},
    {"urllib2", "", "network access (Python 2)"},
    {"httplib", "", "network access (Python 2)"},
    {"requests", "", "network access"},
    {"aiohttp", "", "network access"},
    {"httpx", "", "network access"},
    {"ftplib", "", "network access"},
    {"smtplib", "", "network access"},
    {"telnetlib", "", "network access"},
    {"poplib", "", "network access"},
    {"nntplib", "", "network access"},
    {"imaplib", "", "runs processes (IMAP4_stream) and network access"},
    {"xmlrpc", "", "network access"},
    {"socketserver", "", "network access"},
    {"webbrowser", "", "starts programs"},
    {"antigravity", "", "starts a browser on import"},
    {"multiprocessing", "", "runs processes (util.spawnv_passfds)"},
    {"asyncio", "", "runs processes and network access"},
    {"_thread", "", "starts threads running callables"},
    {"bdb", "", "runs code under a debugger"},
    {"pdb", "", "runs code under a debugger"},
    {"trace", "", "runs code (Trace.run)"},
    {"profile", "", "runs code (run)"},
    {"cProfile", "", "runs code (run)"},
    {"timeit", "", "runs code"},
    {"doctest", "", "runs code (debug_script)"},
    {"pip", "", "installs packages (pip.main)"},
    {"ensurepip", "", "installs packages (_run_pip)"},
    {"venv", "", "creates environments and runs pip"},
    {"distutils", "", "runs compilers and commands"},
    {"setuptools", "", "runs compilers and commands"},
    {"site", "", "executes .pth files"},
    {"shutil", "", "file-system changes"},
    {"tempfile", "", "file-system changes"},
    {"io", "FileIO", "opens files"},
    {"io", "open", "opens files"},
    {"io", "open_code", "opens files"},
    {"codecs", "open", "opens files"},
    {"logging", "FileHandler", "creates files"},
    {"logging", "StreamHandler", "writes to streams"},
    {"logging", "basicConfig", "creates files"},
    {"logging.handlers", "", "creates files and network connections"},
    {"logging.config", "", "evaluates configuration (listen, fileConfig)"},
    {"idlelib", "", "evaluates strings"},
    {"lib2to3", "", "evaluates strings"},
    {"uuid", "_get_command_stdout", "runs processes"},
    {"_osx_support", "", "runs processes"},
    {"_aix_support", "", "runs processes"},
    {"platform", "", "runs processes"},
    {"ctypes.util", "", "runs processes"},
};

constexpr bool denyLess(const PickleDenyEntry& a, const PickleDenyEntry& b) {
  return a.module != b.module ? a.module < b.module : a.name < b.name;
}

template <std::size_t N>
constexpr std::array<PickleDenyEntry, N> sortDeny(const PickleDenyEntry (&in)[N]) {
  std::array<PickleDenyEntry, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = in[i];
  std::sort(out.begin(), out.end(), denyLess);
  return out;
}

constexpr auto kDeny = sortDeny(kDenyUnsorted);

constexpr bool denyUnique() {
  for (std::size_t i = 1; i < kDeny.size(); ++i) {
    if (!denyLess(kDeny[i - 1], kDeny[i])) return false;
  }
  return true;
}
static_assert(denyUnique(), "duplicate entry in the pickle denylist");

constexpr std::size_t maxDenyModuleParts() {
  std::size_t most = 0;
  for (const auto& e : kDeny) {
    std::size_t parts = 1;
    for (char c : e.module) parts += c == '.';
    most = std::max(most, parts);
  }
  return most;
}
constexpr std::size_t kMaxDenyModuleParts = maxDenyModuleParts();
// Exact names are single identifiers: an entry matches a path by its first component.
constexpr bool denyNamesAreIdentifiers() {
  for (const auto& e : kDeny) {
    if (e.name.find('.') != std::string_view::npos) return false;
  }
  return true;
}
static_assert(denyNamesAreIdentifiers(), "denylist names must not be dotted");

const PickleDenyEntry* findDenyExact(std::string_view module, std::string_view name) {
  PickleDenyEntry key{module, name, {}};
  auto it = std::lower_bound(kDeny.begin(), kDeny.end(), key, denyLess);
  if (it == kDeny.end() || it->module != module || it->name != name) return nullptr;
  return &*it;
}

std::vector<std::string_view> splitDots(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = s.find('.', start);
    out.push_back(
        s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string joinDots(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) out += '.';
    out += parts[i];
  }
  return out;
}

}  // namespace

unsigned pickleProfileMask(const std::vector<std::string>& extra_profiles) {
  unsigned mask = kPickleDefaultProfiles;
  for (const auto& p : extra_profiles) {
    if (p == "hf-training") mask |= kPickleProfileHfTraining;
    if (p == "sklearn" || p == "joblib") mask |= kPickleProfileSklearn;
    if (p == "core") mask |= kPickleProfileCore;
    if (p == "torch") mask |= kPickleProfileTorch;
    if (p == "numpy") mask |= kPickleProfileNumpy;
  }
  return mask;
}

bool isDunder(std::string_view c) {
  return c.size() > 4 && c.starts_with("__") && c.ends_with("__");
}

PickleGlobalName applyPython2Mapping(std::string_view module, std::string_view name) {
  for (const auto& m : kNameMapping) {
    if (m.from.first == module && m.from.second == name) {
      return {std::string(m.to.first), std::string(m.to.second)};
    }
  }
  if (module == "exceptions") {
    for (auto e : kPython2Exceptions) {
      if (e == name) return {"builtins", std::string(name)};
    }
  }
  for (const auto& m : kImportMapping) {
    if (m.first == module) return {std::string(m.second), std::string(name)};
  }
  return {std::string(module), std::string(name)};
}

std::string canonicalPickleModule(std::string_view module) {
  for (const auto& a : kAliases) {
    if (a.first == module) return std::string(a.second);
  }
  return std::string(module);
}

PickleGlobalName normalizePickleGlobal(std::string_view module, std::string_view name,
                                       int protocol) {
  PickleGlobalName g = protocol < 3 ? applyPython2Mapping(module, name)
                                    : PickleGlobalName{std::string(module), std::string(name)};
  g.module = canonicalPickleModule(g.module);
  return g;
}

const PickleDenyEntry* findPickleDenied(std::string_view module, std::string_view name) {
  // Whole-module entries for the module and each of its parent packages.
  for (std::string_view m = module;;) {
    if (const auto* e = findDenyExact(m, "")) return e;
    std::size_t dot = m.rfind('.');
    if (dot == std::string_view::npos) break;
    m = m.substr(0, dot);
  }
  // Exact names, and attribute paths below them.
  for (std::string_view n = name; !n.empty();) {
    if (const auto* e = findDenyExact(module, n)) return e;
    std::size_t dot = n.rfind('.');
    if (dot == std::string_view::npos) break;
    n = n.substr(0, dot);
  }
  return nullptr;
}

PickleGlobalJudgement judgePickleGlobal(const PickleGlobalName& g, unsigned profiles) {
  PickleGlobalJudgement j;
  if (const AllowEntry* a = findAllowed(g.module, g.name, profiles)) {
    j.policy = PickleGlobalPolicy::Allowed;
    j.call_rule = a->rule;
    j.forwarded_args = a->forwarded;
    return j;
  }
  std::vector<std::string_view> parts = splitDots(g.name);
  for (auto c : parts) {
    if (isDunder(c)) {
      j.policy = PickleGlobalPolicy::Dunder;
      j.matched = std::string(c);
      j.reason = "dunder attribute " + std::string(c) + " reaches interpreter internals";
      return j;
    }
  }
  if (const auto* d = findPickleDenied(g.module, g.name)) {
    j.policy = PickleGlobalPolicy::Denied;
    j.matched = d->name.empty() ? std::string(d->module)
                                : std::string(d->module) + "." + std::string(d->name);
    j.reason = std::string(d->reason);
    return j;
  }
  if (parts.size() > 1) {
    // An attribute path reaches whatever the module imported: judge every way of reading
    // "<module>.<path>" as "<some module>.<name>..." (('logging', 'os.system') reaches
    // os.system). Denylisted modules have at most kMaxDenyModuleParts components, so only
    // windows that short need checking: linear in the length of the path.
    std::vector<std::string_view> full = splitDots(g.module);
    full.insert(full.end(), parts.begin(), parts.end());
    for (std::size_t from = 0; from + 1 < full.size(); ++from) {
      for (std::size_t end = from + 1; end < full.size() && end - from <= kMaxDenyModuleParts; ++end) {
        std::string mod = canonicalPickleModule(joinDots(full, from, end));
        const PickleDenyEntry* d = findDenyExact(mod, "");
        if (!d) d = findDenyExact(mod, full[end]);
        if (d) {
          j.policy = PickleGlobalPolicy::Denied;
          j.matched = d->name.empty() ? std::string(d->module)
                                      : std::string(d->module) + "." + std::string(d->name);
          j.reason = std::string(d->reason) + ", reached through the attribute path";
          return j;
        }
      }
    }
    j.policy = PickleGlobalPolicy::Dotted;
    j.reason = "attribute path not on an allowlist profile";
    return j;
  }
  j.policy = PickleGlobalPolicy::NotAllowed;
  j.reason = "not on an allowlist profile";
  return j;
}

}  // namespace hubgate::scan
