#!/usr/bin/env python3
"""Generates the tiny safetensors and GGUF samples in tests/scan_samples/weights/.

Each file name starts with the verdict hubgate's validators must give it ("clean_",
"invalid_", "suspicious_", "malicious_"); src/scan/safetensors_test.cc and gguf_test.cc check
every committed sample against its prefix. Python standard library only (struct, json).

    python3 tests/scan_samples/gen_weights.py             # rewrites weights/
    python3 tests/scan_samples/gen_weights.py --corpus    # also seeds fuzz/corpus/{safetensors,gguf}_fuzz
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "weights")


# --- safetensors ---------------------------------------------------------------------------

def safetensors(header, data_len, pad_to=8, raw_header=None, extra=b""):
    """header: dict (serialised compactly, space-padded to `pad_to`) or raw_header bytes."""
    if raw_header is None:
        raw_header = json.dumps(header, separators=(",", ":")).encode()
        while pad_to and len(raw_header) % pad_to:
            raw_header += b" "
    return struct.pack("<Q", len(raw_header)) + raw_header + bytes(range(256)) * (data_len // 256) + bytes(data_len % 256) + extra


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


SAFETENSORS = {
    "clean_minimal.safetensors": safetensors({"w": tensor("F32", [2, 3], 0, 24)}, 24),
    "clean_metadata_rank0_zerodim.safetensors": safetensors(
        {
            "__metadata__": {"format": "pt", "producer": "gen_weights.py"},
            "bias": tensor("F16", [], 0, 2),
            "empty": tensor("BF16", [0, 4], 2, 2),
            "packed": tensor("F4", [8], 2, 6),
            "mask": tensor("BOOL", [2], 6, 8),
        },
        8,
    ),
    "invalid_trailing_polyglot.safetensors": safetensors(
        {"w": tensor("U8", [4], 0, 4)}, 4, extra=b"PK\x05\x06" + bytes(18)
    ),
    "invalid_duplicate_key.safetensors": safetensors(
        None, 2,
        raw_header=b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                   b'"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'),
    "invalid_gap.safetensors": safetensors(
        {"a": tensor("U8", [2], 0, 2), "b": tensor("U8", [2], 4, 6)}, 6),
    "invalid_overlap.safetensors": safetensors(
        {"a": tensor("U8", [4], 0, 4), "b": tensor("U8", [4], 2, 6)}, 6),
    "invalid_unknown_dtype.safetensors": safetensors({"w": tensor("F128", [1], 0, 16)}, 16),
    "invalid_size_mismatch.safetensors": safetensors({"w": tensor("F32", [3], 0, 8)}, 8),
    "invalid_header_too_large.safetensors": struct.pack("<Q", 100_000_001) + b"{}",
    "invalid_metadata_not_string.safetensors": safetensors({"__metadata__": {"epoch": 3}}, 0),
    "suspicious_unknown_field.safetensors": safetensors(
        {"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "extra": True}}, 1),
}


# --- GGUF ----------------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
FIXED = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<B",
         U64: "<Q", I64: "<q", F64: "<d"}
GGML_F32, GGML_F16, GGML_Q4_0 = 0, 1, 2
GGML_SIZES = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_Q4_0: (32, 18)}


def gstr(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("<Q", len(s)) + s


def value(vtype, v):
    if vtype == STRING:
        return gstr(v)
    if vtype == ARRAY:
        etype, items = v
        return struct.pack("<IQ", etype, len(items)) + b"".join(value(etype, x) for x in items)
    return struct.pack(FIXED[vtype], v)


def kv(key, vtype, v):
    return gstr(key) + struct.pack("<I", vtype) + value(vtype, v)


def pad(n, a):
    return (a - n % a) % a


def nbytes(ggml_type, dims):
    block, size = GGML_SIZES[ggml_type]
    n = 1
    for d in dims[1:]:
        n *= d
    return dims[0] // block * size * n


def gguf(kvs, tensors, alignment=32, version=3, offsets=None, extra=b"", data_pad_last=True):
    """tensors: [(name, dims, ggml_type)]; offsets computed (aligned, in order) unless given."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs)
    computed, at = [], 0
    for name, dims, t in tensors:
        computed.append(at)
        at += nbytes(t, dims) + pad(nbytes(t, dims), alignment)
    offsets = offsets or computed
    for (name, dims, t), off in zip(tensors, offsets):
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", t, off)
    if tensors:
        out += bytes(pad(len(out), alignment))
    data = bytearray(max([o + nbytes(t, d) for (_, d, t), o in zip(tensors, offsets)] or [0]))
    if data_pad_last and tensors:
        data += bytes(pad(len(data), alignment))
    return out + bytes(data) + extra


BENIGN_TEMPLATE = (
    "{%- set ns = namespace(found=false) -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] | trim + '<|end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)
SSTI_TEMPLATE = (
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}"
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
)

BASE_KVS = [
    kv("general.architecture", STRING, "llama"),
    kv("general.name", STRING, "tiny"),
    kv("general.alignment", U32, 32),
    kv("llama.context_length", U32, 128),
    kv("general.flag", BOOL, 1),
    kv("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "a", "b"])),
    kv("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, -1.0, -2.0])),
]
TENSORS = [("token_embd.weight", [4, 2], GGML_F32), ("blk.0.ffn.weight", [32, 2], GGML_Q4_0)]

GGUF = {
    "clean_v3.gguf": gguf(BASE_KVS + [kv("tokenizer.chat_template", STRING, BENIGN_TEMPLATE)], TENSORS),
    "clean_v2_no_tensors.gguf": gguf([kv("general.architecture", STRING, "llama")], [], version=2),
    "malicious_ssti_template.gguf": gguf(BASE_KVS + [kv("tokenizer.chat_template", STRING, SSTI_TEMPLATE)], TENSORS),
    "invalid_v1.gguf": b"GGUF" + struct.pack("<III", 1, 0, 0),
    "invalid_bad_magic.gguf": b"GGUG" + struct.pack("<IQQ", 3, 0, 0),
    "invalid_bool_2.gguf": gguf([gstr("general.flag") + struct.pack("<IB", BOOL, 2)], []),
    "invalid_duplicate_key.gguf": gguf([kv("general.name", STRING, "a"), kv("general.name", STRING, "b")], []),
    "invalid_overlap.gguf": gguf([], [("a", [8], GGML_F32), ("b", [8], GGML_F32)], offsets=[0, 0]),
    "invalid_out_of_file.gguf": gguf([], [("a", [64], GGML_F32)])[:-200],
    "suspicious_trailing_bytes.gguf": gguf([], TENSORS, extra=b"PK\x05\x06" + bytes(60)),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    written = {**SAFETENSORS, **GGUF}
    for name, blob in sorted(written.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(blob)
    if "--corpus" in sys.argv[1:]:
        for target, ext in (("safetensors_fuzz", ".safetensors"), ("gguf_fuzz", ".gguf")):
            d = os.path.join(ROOT, "fuzz", "corpus", target)
            os.makedirs(d, exist_ok=True)
            for name, blob in sorted(written.items()):
                if name.endswith(ext) and len(blob) <= 8192:
                    with open(os.path.join(d, name[: -len(ext)]), "wb") as f:
                        f.write(blob)
    print(f"wrote {len(written)} samples to {OUT}")


if __name__ == "__main__":
    main()
