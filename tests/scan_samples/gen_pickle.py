#!/usr/bin/env python3
"""Generates the pickle scanner samples in tests/scan_samples/pickle/ (python3 stdlib only).

Run from anywhere: python3 tests/scan_samples/gen_pickle.py
The output is deterministic; commit the generated files together with this script.

Benign samples come from pickle.dumps (with stand-in `torch` and `numpy` modules that pickle
exactly like the real ones, so no third-party package is needed). For each of them the script
also writes <name>.globals.txt: the normalised "module.name" of every import, computed from
pickletools.genops (plus a small stack emulation for STACK_GLOBAL operands) and cross-checked
against the names CPython's own Unpickler passes to find_class. The C++ walker must report the
same list (differential test in src/scan/pickle_test.cc).

Bypass samples are hand-assembled opcode bytes (scanning.md section 2): pickle.dumps cannot
produce them. Every sample stays far below 4 KiB.
"""

import _compat_pickle
import collections
import io
import os
import pickle
import pickletools
import struct
import sys
import types

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pickle")

# ----------------------------------------------------------------------------------------------
# Opcode helpers


def su(s):  # SHORT_BINUNICODE
    b = s.encode("utf-8")
    assert len(b) < 256
    return b"\x8c" + bytes([len(b)]) + b


def bu(s):  # BINUNICODE
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def sbb(b):  # SHORT_BINBYTES
    return b"C" + bytes([len(b)]) + b


def binbytes(b):
    return b"B" + struct.pack("<I", len(b)) + b


def glob(module, name):  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def sglob(module, name):  # STACK_GLOBAL with constant operands
    return su(module) + su(name) + b"\x93"


def proto(n):
    return b"\x80" + bytes([n])


STOP = b"."
MARK = b"("
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
REDUCE = b"R"
MEMOIZE = b"\x94"
EMPTY_DICT = b"}"
EMPTY_TUPLE = b")"
BUILD = b"b"
POP = b"0"


def string0(s):  # protocol 0 STRING
    return b"S'" + s.encode() + b"'\n"


# ----------------------------------------------------------------------------------------------
# Stand-in torch and numpy modules: objects whose pickles are what the real libraries write.


def _module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, m)
    return m


def _export(module, obj, name=None):
    name = name or obj.__name__
    obj.__module__ = module.__name__
    obj.__qualname__ = name
    setattr(module, name, obj)
    return obj


torch = _module("torch")
torch_utils = _module("torch._utils")
torch_nn = _module("torch.nn")
torch_nn_parameter = _module("torch.nn.parameter")


class FloatStorage:
    pass


_export(torch, FloatStorage)


class HalfStorage:
    pass


_export(torch, HalfStorage)


def _rebuild_tensor_v2(*args):
    return ("tensor", args)


def _rebuild_parameter(*args):
    return ("parameter", args)


_export(torch_utils, _rebuild_tensor_v2)
_export(torch_utils, _rebuild_parameter)


class Dtype:
    def __init__(self, name):
        self.name = name

    def __reduce__(self):
        return self.name


Dtype.__module__ = "torch"
torch.float32 = Dtype("float32")


class Storage:
    def __init__(self, key, typ, numel):
        self.key, self.typ, self.numel = key, typ, numel


class Tensor:
    def __init__(self, storage, size, stride):
        self.storage, self.size, self.stride = storage, size, stride

    def __reduce_ex__(self, protocol):
        return (torch_utils._rebuild_tensor_v2,
                (self.storage, 0, self.size, self.stride, False, collections.OrderedDict()))


class Parameter:
    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce_ex__(self, protocol):
        return (torch_utils._rebuild_parameter, (self.tensor, True, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.typ, obj.key, "cpu", obj.numel)
        return None


def torch_data_pkl():
    s0 = Storage("0", FloatStorage, 6)
    s1 = Storage("1", HalfStorage, 4)
    sd = collections.OrderedDict()
    sd["linear.weight"] = Tensor(s0, (2, 3), (3, 1))
    sd["linear.bias"] = Parameter(Tensor(s1, (4,), (1,)))
    sd["linear.weight_view"] = Tensor(s0, (3,), (1,))  # shares storage 0 (memo hit)
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("linear", {"version": 1})])
    buf = io.BytesIO()
    TorchPickler(buf, protocol=2).dump({"state_dict": sd, "dtype": torch.float32, "epoch": 3})
    return buf.getvalue()


numpy = _module("numpy")
numpy_core = _module("numpy.core")
numpy_core_multiarray = _module("numpy.core.multiarray")
numpy_core_numeric = _module("numpy.core.numeric")


def _reconstruct(*args):
    return None


def scalar(*args):
    return None


def _frombuffer(*args):
    return None


_export(numpy_core_multiarray, _reconstruct)
_export(numpy_core_multiarray, scalar)
_export(numpy_core_numeric, _frombuffer)


class dtype:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (numpy.dtype, (self.code, False, True), (3, "<", None, None, None, -1, -1, 0))

    def __setstate__(self, state):
        pass


_export(numpy, dtype)


class ndarray:
    def __init__(self, shape, dt, data, out_of_band=False):
        self.shape, self.dt, self.data, self.oob = shape, dt, data, out_of_band

    def __reduce_ex__(self, protocol):
        if protocol >= 5 and self.oob:
            return (numpy_core_numeric._frombuffer, (self.data, self.dt, self.shape, "C"))
        return (numpy_core_multiarray._reconstruct, (ndarray, (0,), b"b"),
                (1, self.shape, self.dt, False, self.data))

    def __setstate__(self, state):
        pass


_export(numpy, ndarray)


class Float64Scalar:
    def __reduce__(self):
        return (numpy_core_multiarray.scalar, (dtype("f8"), b"\x00\x00\x00\x00\x00\x00\xf8\x3f"))


def numpy_pkl(protocol, out_of_band=False):
    arr = ndarray((3,), dtype("f8"), bytes(range(24)), out_of_band)
    return pickle.dumps({"array": arr, "mean": Float64Scalar()}, protocol=protocol)


joblib = _module("joblib")
joblib_numpy_pickle = _module("joblib.numpy_pickle")


class NumpyArrayWrapper:
    def __init__(self, shape, dt, aligned):
        self.subclass = ndarray
        self.shape = shape
        self.order = "C"
        self.dtype = dt
        self.allow_mmap = False
        if aligned:
            self.numpy_array_alignment_bytes = 16


_export(joblib_numpy_pickle, NumpyArrayWrapper)


class JoblibPickler(pickle._Pickler):
    """joblib.numpy_pickle.NumpyPickler's layout: the wrapper pickled, then the raw array bytes
    (after a padding-length byte and 0xff padding when aligned), outside any frame."""

    def __init__(self, f, protocol, aligned, force_wrap=False):
        super().__init__(f, protocol=protocol)
        self.f, self.aligned, self.force_wrap = f, aligned, force_wrap

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, ndarray) and (obj.dt.code != "O8" or self.force_wrap):
            pickle._Pickler.save(self, NumpyArrayWrapper(obj.shape, obj.dt, self.aligned))
            if self.proto >= 4:
                self.framer.commit_frame(force=True)
            if obj.dt.code == "O8":
                pickle.dump(obj.data, self.f, protocol=2)  # legacy object arrays: a nested pickle
                return
            if self.aligned:
                pad = 16 - ((self.f.tell() + 1) % 16)
                self.f.write(bytes([pad]) + b"\xff" * pad)
            self.f.write(obj.data)
            return
        return pickle._Pickler.save(self, obj, save_persistent_id)


def joblib_pkl(protocol, aligned, data=None, object_array=None):
    arrays = {"coef": ndarray((2, 3), dtype("f8"), data if data is not None else bytes(range(48))),
              "intercept": ndarray((3,), dtype("<i4"), b"\x01\x00\x00\x00" * 3),
              "empty": ndarray((0, 4), dtype("f4"), b""),
              "name": "model"}
    if object_array is not None:
        arrays["objects"] = ndarray((2,), dtype("O8"), object_array)
    f = io.BytesIO()
    JoblibPickler(f, protocol, aligned, force_wrap=object_array is not None).dump(arrays)
    return f.getvalue()


# ----------------------------------------------------------------------------------------------
# Expected globals: genops + a stack emulation for STACK_GLOBAL, normalised like the walker.

ALIASES = {"posix": "os", "nt": "os", "_operator": "operator", "_pickle": "pickle",
           "cPickle": "pickle", "_io": "io", "__builtin__": "builtins"}


def normalise(module, name, protocol):
    if protocol < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return ALIASES.get(module, module) + "." + name


STRING_OPS = {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
              "SHORT_BINUNICODE", "BINUNICODE8"}


def globals_from_genops(data):
    out = []
    pos = 0
    while pos < len(data):
        stack, memo, protocol = [], {}, 0
        end = pos
        for op, arg, at in pickletools.genops(io.BytesIO(data[pos:])):
            end = pos + at + 1
            name = op.name
            if name == "PROTO":
                protocol = arg
            if name in ("GLOBAL", "INST"):
                module, attr = arg.split(" ", 1)
                out.append(normalise(module, attr, protocol))
            if name == "STACK_GLOBAL":
                attr, module = stack.pop(), stack.pop()
                out.append(normalise(module, attr, protocol))
                stack.append(None)
                continue
            if name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
                continue
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
                continue
            if name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
                continue
            if name == "DUP":
                stack.append(stack[-1])
                continue
            if name == "MARK":
                stack.append(pickletools.markobject)
                continue
            before, after = op.stack_before, op.stack_after
            if pickletools.markobject in before:
                below = before.index(pickletools.markobject)
                idx = len(stack) - 1 - stack[::-1].index(pickletools.markobject)
                del stack[idx - below:]
            else:
                for _ in before:
                    stack.pop()
            for _ in after:
                stack.append(arg if name in STRING_OPS else None)
            if name == "STOP":
                break
        pos = end
    return out


class RecordingUnpickler(pickle._Unpickler):  # the Python twin exposes .proto
    """CPython's view: every name find_class receives, normalised."""

    def __init__(self, f):
        super().__init__(f)
        self.seen = []

    def find_class(self, module, name):
        self.seen.append(normalise(module, name, self.proto))
        return Anything

    def persistent_load(self, pid):
        return Anything()


class Anything:
    def __init__(self, *a, **k):
        pass

    def __new__(cls, *a, **k):
        return object.__new__(cls)

    def __call__(self, *a, **k):
        return Anything()

    def __setstate__(self, state):
        pass

    def __setitem__(self, k, v):
        pass

    def append(self, v):
        pass

    def extend(self, v):
        pass


def globals_from_loader(data):
    f = io.BytesIO(data)
    out = []
    while f.tell() < len(data):
        u = RecordingUnpickler(f)
        u.load()
        out.extend(u.seen)
    return out


# ----------------------------------------------------------------------------------------------
# Samples


def all_opcodes():
    """Every opcode of protocols 0-5 except EXT1/2/4 and NEXT_BUFFER, in one loadable pickle."""
    q = struct.pack
    body = b"".join([
        MARK,
        b"N", b"\x88", b"\x89", b"I42\n", b"I01\n", b"L123L\n", b"F1.5\n",
        b"J" + q("<i", -5), b"K\x07", b"M\x00\x01", b"\x8a\x01\xff", b"\x8b\x02\x00\x00\x00\x00\x01",
        b"G" + q(">d", 2.5),
        b"S'a\\x41\\n'\n", b"T" + q("<i", 2) + b"bb", b"U\x01c", b"Vd\\u0065\n", bu("\u00e9"), su("f"),
        b"\x8d" + q("<Q", 1) + b"g",
        binbytes(b"h"), sbb(b"i"), b"\x8e" + q("<Q", 1) + b"j", b"\x96" + q("<Q", 2) + b"kl", b"\x98",
        b"]", MARK, b"K\x01", b"K\x02", b"e", b"K\x03", b"a",
        b"}", su("k"), b"K\x01", b"s", MARK, su("l"), b"K\x02", b"u",
        b"\x8f", MARK, b"K\x01", b"K\x02", b"\x90",
        MARK, b"K\x01", b"\x91",
        MARK, b"K\x01", b"l", MARK, b"K\x01", b"t", MARK, su("m"), b"K\x01", b"d",
        b")", b"K\x01\x85", b"K\x01K\x02\x86", b"K\x01K\x02K\x03\x87",
        b"p0\n", b"q\x01", b"r\x02\x00\x00\x00", b"\x94", b"g0\n", b"h\x01", b"j\x02\x00\x00\x00",
        b"2", b"0", MARK, b"N", b"1", MARK, b"0",
        glob("collections", "OrderedDict"), b")", REDUCE, b"}", BUILD,
        sglob("builtins", "set"), b")", REDUCE,
        MARK, b"ibuiltins\nfrozenset\n",
        MARK, glob("builtins", "bytearray"), b"o",
        glob("builtins", "object"), b")", b"\x81",
        glob("builtins", "object"), b")", b"}", b"\x92",
        b"Pfoo\n", bu("bar"), b"Q",
        b"t", STOP,
    ])
    data = proto(4) + b"\x95" + q("<Q", len(body)) + body

    class Loader(pickle.Unpickler):
        def persistent_load(self, pid):
            return ("persistent", pid)

    Loader(io.BytesIO(data)).load()  # CPython accepts every opcode as assembled
    return data


def benign():
    s = {}
    s["all_opcodes"] = all_opcodes()
    plain = {"name": "x", "list": [1, 2, 3, -7, 2 ** 40, 2 ** 100, -2 ** 70], "f": 1.5,
             "t": (1, "a", (2, 3)), "b": True, "n": None, "nested": {"k": ["v", {"z": 0}]},
             "bytes": b"ab\x00\xff", "u": "caf\u00e9 \u2603", "long_text": "y" * 300}
    # Set elements are ints: str hashes are salted per process, ints keep the output stable.
    types_obj = {"set": {1, 2, 3}, "frozenset": frozenset([4, 5]), "bytearray": bytearray(b"xy\x00"),
                 "complex": complex(1.5, -2), "range": range(1, 5), "slice": slice(1, 9, 2),
                 "odict": collections.OrderedDict(a=1, b=[2]), "counter": collections.Counter("aab")}
    for p in range(6):
        s[f"plain_p{p}"] = pickle.dumps(plain, protocol=p)
        s[f"types_p{p}"] = pickle.dumps(types_obj, protocol=p)
        s[f"scalars_p{p}"] = pickle.dumps([0, 1, -1, 255, 65535, 2 ** 31, -2 ** 31, 0.0, -1e300, True, False, None, "", b""],
                                          protocol=p)
    s["torch_data"] = torch_data_pkl()
    s["numpy_ndarray_p2"] = numpy_pkl(2)
    s["numpy_ndarray_p4"] = numpy_pkl(4)
    s["numpy_frombuffer_p5"] = numpy_pkl(5, out_of_band=True)
    # Sparse memo indices: 2^32-16 via LONG_BINPUT and 2^32-1 via PUT; no array sized by index.
    s["sparse_memo"] = (proto(2) + b"K\x01r\xf0\xff\xff\xff" + POP + b"j\xf0\xff\xff\xff" +
                        b"p4294967295\n" + b"g4294967295\n" + TUPLE2 + STOP)
    # A pickle stream of two pickles, both benign (pickle.load in a loop).
    s["two_benign"] = pickle.dumps({"a": 1}, protocol=2) + pickle.dumps(["b"], protocol=4)
    # torch.storage._load_from_bytes with a benign nested pickle.
    inner = pickle.dumps({"ok": 1}, protocol=2)
    s["load_from_bytes_benign"] = (proto(3) + glob("torch.storage", "_load_from_bytes") + binbytes(inner) +
                                   TUPLE1 + REDUCE + STOP)
    return s


def malicious():
    s = {}
    s["os_system_reduce"] = glob("os", "system") + MARK + string0("echo pwned") + TUPLE + REDUCE + STOP
    s["posix_system_stack_global"] = (proto(4) + su("posix") + MEMOIZE + su("system") + MEMOIZE + b"\x93" +
                                      MEMOIZE + su("id") + TUPLE1 + REDUCE + STOP)
    s["nt_system"] = glob("nt", "system") + MARK + string0("calc") + TUPLE + REDUCE + STOP
    s["py2_builtin_eval_p0"] = glob("__builtin__", "eval") + MARK + string0("1+1") + TUPLE + REDUCE + STOP
    s["py2_commands_getoutput_p1"] = (glob("commands", "getoutput") + b"q\x00" + MARK + bu("id") + TUPLE +
                                      REDUCE + STOP)
    s["py2_commands_getoutput_p2"] = proto(2) + glob("commands", "getoutput") + bu("id") + TUPLE1 + REDUCE + STOP
    # memo-value-not-previous-op: the memo holds 'os'/'system' although the opcode before each
    # BINPUT is a POP of a decoy, and the strings right before STACK_GLOBAL are benign decoys.
    s["memo_operands"] = (proto(4) + su("os") + su("decoy") + POP + b"q\x00" + su("system") + su("OrderedDict") +
                          POP + b"q\x01" + POP + POP + su("collections") + su("OrderedDict") + POP + POP +
                          b"h\x00" + b"h\x01" + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP)
    # STACK_GLOBAL whose operands are the very first opcodes (no PROTO; CVE-2025-71325).
    s["stack_global_offset0"] = su("os") + su("system") + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP
    # STACK_GLOBAL operands computed at run time / not str constants.
    s["stack_global_call_operand"] = (proto(4) + sglob("_codecs", "encode") + su("os") + su("latin1") + TUPLE2 +
                                      REDUCE + su("system") + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP)
    s["stack_global_bytes_operands"] = proto(4) + sbb(b"os") + sbb(b"system") + b"\x93" + su("id") + TUPLE1 + REDUCE + STOP
    # Attribute paths (protocol 4 dotted names).
    s["dotted_logging_os_system"] = proto(4) + sglob("logging", "os.system") + su("id") + TUPLE1 + REDUCE + STOP
    s["dotted_print_self_exec"] = (proto(4) + sglob("builtins", "print.__self__.exec") + su("print(1)") +
                                   TUPLE1 + REDUCE + STOP)
    s["numpy_dunder_builtins"] = proto(4) + sglob("numpy", "__builtins__") + STOP
    # Calls that some scanners ignore.
    s["inst_os_system"] = MARK + string0("id") + b"ios\nsystem\n" + STOP
    s["obj_os_system"] = MARK + glob("os", "system") + string0("id") + b"o" + STOP
    s["newobj_ex_popen"] = proto(4) + sglob("subprocess", "Popen") + su("id") + TUPLE1 + EMPTY_DICT + b"\x92" + STOP
    s["ext1"] = proto(2) + b"\x82\x01" + bu("id") + TUPLE1 + REDUCE + STOP
    # nullifAI: payload first, then bytes that break the stream (no STOP).
    s["payload_then_garbage"] = glob("os", "system") + MARK + string0("id") + TUPLE + REDUCE + b"\xff\xfe\x00junk"
    # Several pickles: a benign one, then the payload.
    s["two_pickles_payload_second"] = (pickle.dumps({"a": 1}, protocol=2) +
                                       proto(2) + glob("os", "system") + bu("id") + TUPLE1 + REDUCE + STOP)
    # Run-time callables: getattr result called; operator.attrgetter output called.
    s["getattr_call_result"] = (proto(2) + glob("builtins", "getattr") + glob("collections", "OrderedDict") +
                                bu("fromkeys") + TUPLE2 + REDUCE + bu("ab") + TUPLE1 + REDUCE + STOP)
    s["attrgetter_call_result"] = (proto(2) + glob("_operator", "attrgetter") + bu("fromkeys") + TUPLE1 + REDUCE +
                                   glob("collections", "OrderedDict") + TUPLE1 + REDUCE +
                                   bu("ab") + TUPLE1 + REDUCE + STOP)
    # BUILD on an imported global.
    s["build_on_global"] = (proto(2) + glob("collections", "OrderedDict") + EMPTY_DICT + bu("__reduce__") +
                            glob("os", "system") + b"s" + BUILD + STOP)
    # ModelScan issue 330 (numpy.size + numpy.__builtins__ + BUILD), reassembled.
    s["numpy_size_gadget"] = (proto(4) + sglob("numpy", "size") + MEMOIZE + MEMOIZE +
                              sglob("numpy", "__builtins__") + MEMOIZE + MEMOIZE +
                              b"h\x01" + EMPTY_DICT + EMPTY_DICT + su("shape") + b"h\x03" + b"s" + TUPLE2 + BUILD +
                              b"h\x01" + b"h\x01" + su("eval") + TUPLE2 + REDUCE +
                              su('__import__("os").system("id")') + TUPLE1 + REDUCE + STOP)
    # Only numpy globals plus BUILD (no dunder): BUILD on the global is the finding.
    s["numpy_build_only"] = (proto(2) + glob("numpy", "size") + b"N" + EMPTY_DICT + bu("shape") +
                             glob("numpy", "ndarray") + b"s" + TUPLE2 + BUILD + STOP)
    # ModelScan issue 85: BUILD plants attributes, dotted globals read them back, memo feeds
    # STACK_GLOBAL with values that are not the previous opcodes' arguments.
    s["numpy_prod_gadget"] = (proto(5) + glob("numpy", "prod") + b"N" + MARK + b"Va\nVos\n" + b"d" + TUPLE2 + BUILD +
                              b"N" + MARK + b"Vb\nVsystem\n" + b"d" + TUPLE2 + BUILD + POP +
                              glob("numpy", "prod.a") + b"p0\n" + glob("numpy", "prod.b") + b"p1\n" + POP + POP +
                              b"g0\n" + b"g1\n" + b"\x93" + b"Vecho pwned\n" + TUPLE1 + REDUCE + STOP)
    s["partial_torch_load"] = (proto(2) + glob("functools", "partial") + glob("torch", "load") + bu("/tmp/x.pt") +
                               TUPLE2 + REDUCE + EMPTY_TUPLE + REDUCE + STOP)
    # Advisory-named payloads.
    s["pip_main"] = glob("pip", "main") + MARK + MARK + string0("install") + string0("evil") + b"l" + TUPLE + REDUCE + STOP
    s["pty_spawn"] = glob("pty", "spawn") + MARK + string0("/bin/sh") + TUPLE + REDUCE + STOP
    s["logging_filehandler"] = glob("logging", "FileHandler") + MARK + string0("/tmp/x") + TUPLE + REDUCE + STOP
    s["asyncio_unix_events"] = (proto(4) + sglob("asyncio.unix_events", "_UnixSelectorEventLoop") + EMPTY_TUPLE +
                                REDUCE + STOP)
    s["pkgutil_resolve_name"] = (glob("pkgutil", "resolve_name") + MARK + string0("os:system") + TUPLE + REDUCE +
                                 MARK + string0("id") + TUPLE + REDUCE + STOP)
    s["pydoc_locate"] = (glob("pydoc", "locate") + MARK + string0("os.system") + TUPLE + REDUCE +
                         MARK + string0("id") + TUPLE + REDUCE + STOP)
    s["importlib_import_module"] = glob("importlib", "import_module") + MARK + string0("os") + TUPLE + REDUCE + STOP
    s["marshal_function"] = (proto(3) + glob("types", "FunctionType") + glob("marshal", "loads") +
                             sbb(b"\xe3\x00\x00\x00") + TUPLE1 + REDUCE + EMPTY_DICT + TUPLE2 + REDUCE + STOP)
    s["codecs_encode_rot13"] = proto(2) + glob("_codecs", "encode") + bu("abc") + bu("rot13") + TUPLE2 + REDUCE + STOP
    # Parser-disagreement and resource cases.
    s["memo_missing"] = proto(2) + b"h\x05" + STOP
    s["memo_missing_after_finding"] = proto(2) + glob("os", "system") + b"h\x05" + STOP
    s["len_2_62"] = proto(4) + b"\x8e" + struct.pack("<Q", 2 ** 62) + b"abc" + STOP
    s["frame_too_long"] = proto(4) + b"\x95" + struct.pack("<Q", 1000) + b"N" + STOP
    s["frame_too_short"] = proto(4) + b"\x95" + struct.pack("<Q", 2) + su("abcdef") + STOP
    s["proto_repeated"] = proto(2) + b"N" + POP + proto(4) + b"]" + STOP
    s["proto_misplaced"] = b"N" + POP + proto(2) + b"]" + STOP
    s["persid_outside_torch"] = proto(2) + bu("0") + b"Q" + STOP
    s["next_buffer"] = proto(5) + b"\x97" + STOP
    nested = proto(2) + glob("os", "system") + bu("id") + TUPLE1 + REDUCE + STOP
    s["load_from_bytes_nested_payload"] = (proto(3) + glob("torch.storage", "_load_from_bytes") + binbytes(nested) +
                                           TUPLE1 + REDUCE + STOP)
    # _rebuild_from_type_v2(func, type, args, state) calls func: here func is a call result.
    s["rebuild_from_type_call_result"] = (proto(2) + glob("torch._tensor", "_rebuild_from_type_v2") + MARK +
                                          glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE +
                                          glob("torch", "Tensor") + EMPTY_TUPLE + EMPTY_DICT + TUPLE + REDUCE + STOP)
    return s


def joblib_samples():
    """joblib streams: raw array bytes sit between opcodes, so there is no genops expectation."""
    s = {}
    payload = b"cos\nsystem\n(S'id'\ntR." + b"\x00" * 27  # 48 bytes: a pickle if read as opcodes
    s["joblib_aligned_p4"] = joblib_pkl(4, aligned=True)
    s["joblib_unaligned_p2"] = joblib_pkl(2, aligned=False)
    s["joblib_opcode_bytes_aligned"] = joblib_pkl(4, aligned=True, data=payload)
    s["joblib_opcode_bytes_unaligned"] = joblib_pkl(2, aligned=False, data=payload)
    s["joblib_object_array"] = joblib_pkl(4, aligned=True, object_array=["a", 1])
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    for name in os.listdir(OUT):
        os.remove(os.path.join(OUT, name))
    b = benign()
    m = malicious()
    j = joblib_samples()
    for name, data in sorted({**b, **m, **j}.items()):
        assert len(data) < 4096, name
        with open(os.path.join(OUT, name + ".pkl"), "wb") as f:
            f.write(data)
    for name, data in sorted(b.items()):
        if name.startswith("load_from_bytes"):
            expect = globals_from_genops(data)  # the loader would need torch for the nested load
        else:
            expect = globals_from_genops(data)
            seen = globals_from_loader(data)
            assert expect == seen, (name, expect, seen)
        with open(os.path.join(OUT, name + ".globals.txt"), "w") as f:
            f.write("".join(g + "\n" for g in expect))
    print(f"wrote {len(b)} benign, {len(j)} joblib and {len(m)} bypass samples to {OUT}")


if __name__ == "__main__":
    main()
