#!/usr/bin/env python3
"""Generates the container samples in tests/scan_samples/containers/ (python3 stdlib only).

Every sample is small (< 16 KiB) and deterministic (fixed timestamps), so re-running this
script reproduces the committed bytes. Zip tricks that zipfile cannot produce are written by
hand (ZipRecord / build_zip below). PyTorch-shaped pickles are produced with stand-in `torch`
modules registered in sys.modules, so the opcodes (GLOBAL torch._utils _rebuild_tensor_v2,
BINPERSID ('storage', torch.FloatStorage, '0', 'cpu', 4), collections.OrderedDict) are the ones
torch.save writes, without torch installed. Payloads call os.system (pickled as posix.system).

Used by src/scan/zip_test.cc, containers_test.cc and scanner_test.cc; copied to
fuzz/corpus/zip_fuzz/ as seeds (with zip_fuzz's selector byte in front).

    python3 tests/scan_samples/gen_containers.py
"""
import bz2
import collections
import gzip
import io
import lzma
import os
import pickle
import struct
import sys
import tarfile
import types
import zipfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, 'containers')
FUZZ = os.path.join(HERE, '..', '..', 'fuzz', 'corpus', 'zip_fuzz')
DATE = (2024, 1, 1, 0, 0, 0)

# ------------------------------------------------------------------------------------------
# Pickles


class Payload:
    """Unpickling runs os.system (module 'posix' on Linux)."""

    def __reduce__(self):
        return (os.system, ('echo hubgate-test-payload',))


def fake_module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


torch = fake_module('torch')
torch_utils = fake_module('torch._utils')
torch._utils = torch_utils


def _rebuild_tensor_v2(*args):
    raise RuntimeError('stand-in')


_rebuild_tensor_v2.__module__ = 'torch._utils'
_rebuild_tensor_v2.__qualname__ = '_rebuild_tensor_v2'
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


FloatStorage.__module__ = 'torch'
FloatStorage.__qualname__ = 'FloatStorage'
torch.FloatStorage = FloatStorage


class StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class TensorRef:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, tuple(shape)

    def __reduce__(self):
        stride, acc = [], 1
        for d in reversed(self.shape):
            stride.insert(0, acc)
            acc *= d
        return (_rebuild_tensor_v2,
                (self.storage, 0, self.shape, tuple(stride), False, collections.OrderedDict()))


class TorchPickler(pickle.Pickler):
    """torch.save's pickler: storages become BINPERSID tuples."""

    legacy = False

    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            if self.legacy:
                return ('storage', FloatStorage, obj.key, 'cpu', obj.numel, None)
            return ('storage', FloatStorage, obj.key, 'cpu', obj.numel)
        return None


def torch_pickle(obj, legacy=False):
    buf = io.BytesIO()
    p = TorchPickler(buf, protocol=2)
    p.legacy = legacy
    p.dump(obj)
    return buf.getvalue()


def state_dict(payload=False, keys=('0', '1')):
    sd = collections.OrderedDict()
    sd['linear.weight'] = TensorRef(StorageRef(keys[0], 4), (2, 2))
    if len(keys) > 1:
        sd['linear.bias'] = TensorRef(StorageRef(keys[1], 2), (2,))
    if payload:
        sd['hook'] = Payload()
    return sd


def payload_pickle(protocol=2):
    return pickle.dumps({'weights': [1.0, 2.0], 'x': Payload()}, protocol=protocol)


# ------------------------------------------------------------------------------------------
# Hand-built zips


class ZipRecord:
    def __init__(self, name, data, method=0, flags=0, **kw):
        self.name = name.encode() if isinstance(name, str) else name
        self.data = data
        self.method = method
        self.flags = flags
        self.kw = kw  # overrides: local_name, local_flags, local_method, crc, local_crc,
        # csize, usize, local_csize, local_usize, descriptor (16/24), align,
        # in_cd, comp, offset, zip64_sizes
        self.offset = 0

    def compressed(self):
        if 'comp' in self.kw:
            return self.kw['comp']
        if self.method == 0:
            return self.data
        if self.method == 8:
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            return c.compress(self.data) + c.flush()
        raise ValueError(self.method)


def build_zip(records, prefix=b'', zip64=False, comment=b'', entries_override=None, tail=b''):
    out = bytearray(prefix)
    for r in records:
        kw = r.kw
        comp = r.compressed()
        r.comp = comp
        r.crc = kw.get('crc', zlib.crc32(r.data))
        r.csize = kw.get('csize', len(comp))
        r.usize = kw.get('usize', len(r.data))
        desc = kw.get('descriptor')
        lflags = kw.get('local_flags', r.flags | (8 if desc else 0))
        r.flags_c = r.flags | (8 if desc else 0)
        lname = kw.get('local_name', r.name)
        lname = lname.encode() if isinstance(lname, str) else lname
        lmethod = kw.get('local_method', r.method)
        lcrc = kw.get('local_crc', 0 if desc else r.crc)
        lcsize = kw.get('local_csize', 0 if desc else r.csize)
        lusize = kw.get('local_usize', 0 if desc else r.usize)
        lextra = b''
        if kw.get('zip64_sizes'):
            lextra = struct.pack('<HHQQ', 1, 16, r.usize, r.csize)
            lcsize = lusize = 0xFFFFFFFF
        r.offset = kw.get('offset', len(out))
        if kw.get('align'):
            # torch pads the local extra field ("FB") so that data starts 64-byte aligned.
            base = len(out) + 30 + len(lname) + len(lextra) + 4
            pad = (-base) % kw['align']
            lextra += b'FB' + struct.pack('<H', pad) + b'Z' * pad
        out += struct.pack('<IHHHHHIIIHH', 0x04034B50, 20, lflags, lmethod, 0, 0x5821,
                           lcrc, lcsize & 0xFFFFFFFF, lusize & 0xFFFFFFFF, len(lname), len(lextra))
        out += lname + lextra + comp
        if desc == 16:
            out += struct.pack('<IIII', 0x08074B50, r.crc, r.csize, r.usize)
        elif desc == 24:
            out += struct.pack('<IIQQ', 0x08074B50, r.crc, r.csize, r.usize)
        out += kw.get('after', b'')
    cd_start = len(out)
    n = 0
    for r in records:
        if not r.kw.get('in_cd', True):
            continue
        n += 1
        extra = b''
        csize, usize = r.csize, r.usize
        if r.kw.get('zip64_sizes'):
            extra = struct.pack('<HHQQ', 1, 16, usize, csize)
            csize = usize = 0xFFFFFFFF
        out += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014B50, 20, 20, r.kw.get('central_flags', r.flags_c),
                           r.method, 0, 0x5821, r.crc, csize, usize, len(r.name), len(extra),
                           0, 0, 0, 0, r.kw.get('cd_offset', r.offset))
        out += r.name + extra
    cd_size = len(out) - cd_start
    count = n if entries_override is None else entries_override
    if zip64:
        z = len(out)
        out += struct.pack('<IQHHIIQQQQ', 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_start)
        out += struct.pack('<IIQI', 0x07064B50, 0, z, 1)
        out += struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF,
                           len(comment))
    else:
        out += struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, count, count, cd_size, cd_start,
                           len(comment))
    out += comment + tail
    return bytes(out)


def torch_records(data_pkl, descriptor=16, extra_storages=(), keys=('0', '1'), pkl_kw=None, storages=None):
    """The record list torch.save (zip serialization) writes, flags 0x0800 + data descriptors."""
    pkl_kw = pkl_kw or {}
    storages = storages or {'0': struct.pack('<4f', 1, 2, 3, 4), '1': struct.pack('<2f', 5, 6)}
    recs = [ZipRecord('archive/data.pkl', data_pkl, flags=0x0800, descriptor=descriptor, align=64, **pkl_kw),
            ZipRecord('archive/.format_version', b'1', flags=0x0800, descriptor=descriptor, align=64),
            ZipRecord('archive/.storage_alignment', b'64', flags=0x0800, descriptor=descriptor, align=64),
            ZipRecord('archive/byteorder', b'little', flags=0x0800, descriptor=descriptor, align=64)]
    for k in keys:
        recs.append(ZipRecord('archive/data/' + k, storages.get(k, b'\0' * 8), flags=0x0800,
                              descriptor=descriptor, align=64))
    for k in extra_storages:
        recs.append(ZipRecord('archive/data/' + k, b'\0' * 8, flags=0x0800, descriptor=descriptor, align=64))
    recs += [ZipRecord('archive/version', b'3\n', flags=0x0800, descriptor=descriptor, align=64),
             ZipRecord('archive/.data/serialization_id', b'1016283750118829377200004823409874571904',
                       flags=0x0800, descriptor=descriptor, align=64)]
    return recs


def pyzip(members, compression=zipfile.ZIP_DEFLATED, force_zip64=False):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', compression) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = compression
            if force_zip64:
                with z.open(info, 'w', force_zip64=True) as f:
                    f.write(data)
            else:
                z.writestr(info, data)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------
# NumPy


def npy(descr, shape, body, fortran=False):
    header = "{'descr': %r, 'fortran_order': %s, 'shape': %r, }" % (descr, fortran, tuple(shape))
    total = 10 + len(header) + 1
    header += ' ' * ((-total) % 64) + '\n'
    return b'\x93NUMPY\x01\x00' + struct.pack('<H', len(header)) + header.encode('latin1') + body


def object_npy_body(payload):
    # np.save(allow_pickle=True) pickles the array itself; a list stands in for it here: what
    # matters is that the body is a pickle stream that np.load would unpickle.
    return pickle.dumps([1.5, payload], protocol=3)


# ------------------------------------------------------------------------------------------
# Legacy torch

MAGIC = 0x1950A86A20F9469CFC6C


def legacy_torch(payload=False):
    out = pickle.dumps(MAGIC, protocol=2)
    out += pickle.dumps(1001, protocol=2)
    out += pickle.dumps({'protocol_version': 1001, 'little_endian': True,
                         'type_sizes': {'short': 2, 'int': 4, 'long': 4}}, protocol=2)
    out += torch_pickle(state_dict(payload=payload, keys=('0',)), legacy=True)
    out += pickle.dumps(['0'], protocol=2)
    out += struct.pack('<Q', 4) + struct.pack('<4f', 1, 2, 3, 4)
    return out


def legacy_tar(payload=False):
    storages = pickle.dumps(1, protocol=2)
    storages += pickle.dumps(('0', 'cpu', FloatStorage), protocol=2)
    storages += struct.pack('<Q', 2) + struct.pack('<2f', 1, 2)
    storages += pickle.dumps([], protocol=2)
    tensors = pickle.dumps(1, protocol=2)
    tensors += pickle.dumps('t0', protocol=2)
    tensors += pickle.dumps(('0', FloatStorage), protocol=2)
    tensors += struct.pack('<ii', 1, 0) + struct.pack('<q', 2) + struct.pack('<q', 1) + struct.pack('<q', 0)
    obj = {'weight': 't0'}
    if payload:
        obj['x'] = Payload()
    members = [('sys_info', pickle.dumps({'protocol_version': 1001, 'little_endian': True}, protocol=2)),
               ('pickle', pickle.dumps(obj, protocol=2)),
               ('storages', storages),
               ('tensors', tensors)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# ------------------------------------------------------------------------------------------


def samples():
    s = {}
    benign_pkl = torch_pickle(state_dict())
    evil_pkl = torch_pickle(state_dict(payload=True))
    s['torch_pickle_benign.pkl'] = benign_pkl
    s['torch_benign.pt'] = build_zip(torch_records(benign_pkl))
    s['torch_benign_zip64.pt'] = build_zip(torch_records(benign_pkl, descriptor=24), zip64=True)
    s['torch_payload.pt'] = build_zip(torch_records(evil_pkl))
    s['torch_unreferenced_storage.pt'] = build_zip(torch_records(benign_pkl, extra_storages=('7',)))
    s['torch_missing_storage.pt'] = build_zip(torch_records(benign_pkl, keys=('0',)))
    # Raw tensor bytes that happen to be a pickle with a payload: never unpickled by torch.
    s['torch_tensor_looks_like_pickle.pt'] = build_zip(torch_records(
        benign_pkl, storages={'0': payload_pickle(), '1': struct.pack('<2f', 5, 6)}))

    # CVE-2025-1944: local header name differs from the central directory name.
    s['zip_local_name_mismatch.pt'] = build_zip(
        torch_records(evil_pkl, pkl_kw={'local_name': 'archive/data.bin'}))
    # CVE-2025-1945: general purpose flag bits 0x01 / 0x20 / 0x40 (stored, so still readable).
    s['zip_flag_01.pt'] = build_zip(torch_records(evil_pkl, pkl_kw={'local_flags': 0x0809}))
    s['zip_flag_20.pt'] = build_zip(
        torch_records(evil_pkl, pkl_kw={'local_flags': 0x0828, 'central_flags': 0x0828}))
    s['zip_flag_40.pt'] = build_zip(torch_records(evil_pkl, pkl_kw={'local_flags': 0x0848}))
    # CVE-2025-10156: wrong CRC in both headers.
    bad = zlib.crc32(evil_pkl) ^ 0xDEADBEEF
    s['zip_bad_crc.pt'] = build_zip(torch_records(evil_pkl, descriptor=None, pkl_kw={'crc': bad}))
    # Duplicate names: torch reads the first, Python's zipfile the last.
    recs = torch_records(evil_pkl)
    recs.insert(1, ZipRecord('archive/data.pkl', benign_pkl, flags=0x0800, descriptor=16, align=64))
    s['zip_duplicate_name.pt'] = build_zip(recs)
    # A decoy local record (payload) that the central directory does not list.
    recs = torch_records(benign_pkl)
    recs.insert(0, ZipRecord('archive/data.pkl', evil_pkl, in_cd=False))
    s['zip_decoy_local.pt'] = build_zip(recs)
    # Local sizes of zero without a data descriptor.
    s['zip_local_sizes_zero.pt'] = build_zip(
        torch_records(evil_pkl, descriptor=None, pkl_kw={'local_csize': 0, 'local_usize': 0}))
    # Method mismatch: the central entry says deflate (and the data is deflated), the local
    # header says stored.
    recs = torch_records(evil_pkl, descriptor=None)
    recs[0] = ZipRecord('archive/data.pkl', evil_pkl, method=8, flags=0x0800, local_method=0)
    s['zip_method_mismatch.pt'] = build_zip(recs)
    # Nested zip with the payload two levels down (within the depth limit), and one too deep.
    inner = pyzip([('model/evil.pkl', payload_pickle())])
    s['zip_nested.zip'] = pyzip([('readme.txt', b'nested archive\n'), ('inner.zip', inner)])
    z = payload_pickle()
    chain = pyzip([('payload.pkl', z)])
    for level in range(3):
        chain = pyzip([('level%d.zip' % level, chain)])
    s['zip_nested_depth3.zip'] = chain  # outer + 3 nested levels: allowed
    chain = pyzip([('payload.pkl', z)])
    for level in range(4):
        chain = pyzip([('level%d.zip' % level, chain)])
    s['zip_nested_depth4.zip'] = chain  # outer + 4 nested levels: too deep
    # Pickle + zip polyglot: torch.load unpickles offset 0 (the payload), zip readers see a
    # benign checkpoint.
    prefix = payload_pickle()
    s['polyglot_pickle_zip.pt'] = build_zip(torch_records(benign_pkl), prefix=prefix)
    # CVE-2025-1889: a pickle under a non-standard member name.
    s['zip_nonstandard_name.zip'] = pyzip([('weights/model.txt', payload_pickle()),
                                           ('config.json', b'{"a": 1}\n')])
    # CVE-2025-10155: a plain pickle with a PyTorch extension.
    s['plain_pickle.pt'] = payload_pickle()
    # Zip bombs: honest sizes above the ratio limit, and lying sizes.
    zeros = pickle.dumps(bytes(2 << 20), protocol=4)
    s['zip_bomb_ratio.zip'] = build_zip([ZipRecord('data.pkl', zeros, method=8)])
    s['zip_bomb_lying.zip'] = build_zip([ZipRecord('payload.pkl', zeros, method=8, usize=1000,
                                                   local_usize=1000)])
    # 2^62 size fields (ZIP64 extra): stored and deflated.
    huge = 1 << 62
    s['zip64_huge_sizes.zip'] = build_zip([
        ZipRecord('a.bin', b'x' * 16, csize=huge, usize=huge, zip64_sizes=True),
        ZipRecord('b.pkl', payload_pickle(), method=8, usize=huge, zip64_sizes=True)])
    # Encrypted for real (flag 0x01, data that is no known format).
    s['zip_encrypted.zip'] = build_zip([ZipRecord('secret.pkl', bytes(range(7, 250, 3)) * 3, flags=1)])
    # Unsupported method (zstd = 93).
    zstd = b'\x28\xb5\x2f\xfd' + b'\0' * 20
    s['zip_zstd.zip'] = build_zip([ZipRecord('m.pkl', zstd, method=93, comp=zstd)])
    # bzip2 and LZMA members (zipfile writes both).
    s['zip_bzip2.zip'] = pyzip([('evil.pkl', payload_pickle())], compression=zipfile.ZIP_BZIP2)
    s['zip_lzma.zip'] = pyzip([('evil.pkl', payload_pickle())], compression=zipfile.ZIP_LZMA)
    # Unsafe names, shared local headers, overlaps, gaps, a directory count that hides an entry,
    # a prepended archive whose offsets are relative to its own start.
    s['zip_traversal.zip'] = build_zip([ZipRecord('../evil.txt', b'hello\n')])
    # Two central entries pointing at one local header.
    tmp = build_zip([ZipRecord('a.txt', b'shared bytes\n')])
    cd_start = tmp.index(b'PK\x01\x02')
    cd_entry = tmp[cd_start:tmp.index(b'PK\x05\x06')]
    second = cd_entry.replace(b'a.txt', b'b.txt')
    s['zip_shared_header.zip'] = (tmp[:cd_start] + cd_entry + second +
                                  struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, 2, 2, len(cd_entry) * 2, cd_start, 0))
    # Overlap: the second local record lies inside the first entry's (stored) data.
    inner_rec = build_zip([ZipRecord('inner.pkl', payload_pickle())])
    inner_local = inner_rec[:inner_rec.index(b'PK\x01\x02')]
    outer = ZipRecord('cover.bin', b'\0' * 8 + inner_local + b'\0' * 8)
    first = build_zip([outer])
    cd1 = first[first.index(b'PK\x01\x02'):first.index(b'PK\x05\x06')]
    # Local header of inner.pkl sits at 30 + len(name) + 8 inside the file.
    off = 30 + len(b'cover.bin') + 8
    inner_cd = inner_rec[inner_rec.index(b'PK\x01\x02'):inner_rec.index(b'PK\x05\x06')]
    inner_cd = inner_cd[:42] + struct.pack('<I', off) + inner_cd[46:]
    cd_at = first.index(b'PK\x01\x02')
    s['zip_overlap.zip'] = (first[:cd_at] + cd1 + inner_cd +
                            struct.pack('<IHHHHIIH', 0x06054B50, 0, 0, 2, 2, len(cd1) + len(inner_cd), cd_at, 0))
    s['zip_gap.zip'] = build_zip([ZipRecord('a.txt', b'visible\n', after=b'hidden bytes ' * 4),
                                  ZipRecord('b.txt', b'also visible\n')])
    # A local record hidden behind junk bytes (the local walk stops at the junk; the gap search
    # finds it).
    s['zip_gap_hides_record.zip'] = build_zip([
        ZipRecord('a.txt', b'visible\n', after=b'JUNK' * 4),
        ZipRecord('hidden.pkl', payload_pickle(), in_cd=False),
        ZipRecord('b.txt', b'also visible\n')])
    s['zip_cd_count_hides_entry.zip'] = build_zip([ZipRecord('ok.txt', b'fine\n'),
                                                   ZipRecord('evil.pkl', payload_pickle())],
                                                  entries_override=1)
    rel = build_zip([ZipRecord('evil.pkl', payload_pickle())])
    s['zip_prefix_shift.zip'] = b'JUNKJUNK' * 8 + rel  # offsets relative to the archive start
    # TorchScript.
    ts = [ZipRecord('archive/data.pkl', benign_pkl),
          ZipRecord('archive/constants.pkl', pickle.dumps((), protocol=2)),
          ZipRecord('archive/code/__torch__/model.py',
                    b'class Model(Module):\n  def forward(self, x):\n    return x\n'),
          ZipRecord('archive/data/0', struct.pack('<4f', 1, 2, 3, 4)),
          ZipRecord('archive/data/1', struct.pack('<2f', 5, 6)),
          ZipRecord('archive/version', b'3\n')]
    s['torchscript.pt'] = build_zip(ts)

    # joblib-style compressed pickles.
    evil = payload_pickle(protocol=4)
    s['joblib_zlib.joblib'] = zlib.compress(evil, 3)
    s['joblib_gzip.joblib'] = gzip.compress(evil, 3, mtime=0)
    s['joblib_bz2.joblib'] = bz2.compress(evil, 3)
    s['joblib_xz.joblib'] = lzma.compress(evil, format=lzma.FORMAT_XZ)
    s['joblib_lzma.joblib'] = lzma.compress(evil, format=lzma.FORMAT_ALONE)
    s['joblib_lz4.joblib'] = b'\x04\x22\x4d\x18' + b'\x64\x40\xa7' + b'\x11' * 40
    s['joblib_benign_gzip.joblib'] = gzip.compress(pickle.dumps({'a': [1, 2, 3], 'b': 'text'}, protocol=4),
                                                   mtime=0)

    # NumPy.
    s['npy_float.npy'] = npy('<f4', (2, 3), struct.pack('<6f', *range(6)))
    s['npy_object_payload.npy'] = npy('|O', (2,), object_npy_body(Payload()))
    s['npy_truncated.npy'] = npy('<f8', (4,), b'\0' * 8)
    floats = npy('<f8', (3,), struct.pack('<3d', 1, 2, 3))
    s['npz_float.npz'] = pyzip([('arr_0.npy', floats), ('arr_1.npy', s['npy_float.npy'])],
                               compression=zipfile.ZIP_STORED, force_zip64=True)
    # np.savez_compressed of a 2 MiB array: only its header needs inflating.
    zeros_npy = npy('<f4', (512, 1024), bytes(2 << 20))
    s['npz_compressed_large.npz'] = pyzip([('arr_0.npy', zeros_npy), ('arr_1.npy', floats)],
                                          compression=zipfile.ZIP_DEFLATED, force_zip64=True)
    s['npz_payload.npz'] = pyzip([('arr_0.npy', floats), ('arr_1.npy', s['npy_object_payload.npy'])],
                                 compression=zipfile.ZIP_STORED, force_zip64=True)

    # Legacy torch.
    s['legacy_torch_benign.pt'] = legacy_torch()
    s['legacy_torch_payload.pt'] = legacy_torch(payload=True)
    s['legacy_torch_tar_benign.tar'] = legacy_tar()
    s['legacy_torch_tar_payload.tar'] = legacy_tar(payload=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, data in [('docs/readme.txt', b'hello\n'), ('model/evil.pkl', payload_pickle())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))
    s['tar_with_pickle.tar'] = buf.getvalue()

    # Not containers.
    s['sevenz.7z'] = b'7z\xbc\xaf\x27\x1c\x00\x04' + b'\x8d\x9b\xd5\x0f' + b'\0' * 24
    s['readme.md'] = b'# Model card\n\nA small model. Load it with `from_pretrained`.\n'
    s['config.json'] = b'{"architectures": ["Bert"], "hidden_size": 8, "vocab_size": 100}\n'
    s['notes.txt'] = b'plain text notes, nothing to see here.\nsecond line\n'
    return s


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(FUZZ, exist_ok=True)
    for i, (name, data) in enumerate(sorted(samples().items())):
        assert len(data) < 16 * 1024, (name, len(data))
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
        # zip_fuzz reads byte 0 as its selector (name hint, engine on/off), the rest as the file.
        with open(os.path.join(FUZZ, name), 'wb') as f:
            f.write(bytes([(i * 37) % 256]) + data)
    print('wrote', len(samples()), 'samples to', OUT)


if __name__ == '__main__':
    main()
