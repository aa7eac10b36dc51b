#!/usr/bin/env python3
"""Writes tests/fixtures/bombs/: PNG files and PyTorch checkpoints of a few hundred bytes whose
headers claim sizes that would need gigabytes to terabytes (issue 19). The PNGs' pixel data is a
few compressed rows, the checkpoints' a few bytes; a reader that allocates from the header
before checking it against the file asks for the whole claimed size.

    python3 scripts/make_bomb_fixtures.py
"""
import os
import struct
import zlib


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(path, width, height, colour_type, channels):
    rows = b"".join(b"\x00" + b"\x00" * (width * channels) for _ in range(2))
    data = b"\x89PNG\r\n\x1a\n"
    data += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(rows, 9))
    data += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "bombs")
os.makedirs(out, exist_ok=True)
# 100000 x 100000 RGB: 30 GB decoded.
png(os.path.join(out, "rgb-100000x100000.png"), 100000, 100000, 2, 3)
# 100000 x 100000 grayscale (a label map's layout): 10 GB decoded.
png(os.path.join(out, "gray-100000x100000.png"), 100000, 100000, 0, 1)


def full_png(path, width, height, value):
    """A complete, valid grayscale PNG: every row present (64 MB of ids compress to ~60 KB)."""
    row = b"\x00" + bytes([value]) * width
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    body = b"\x89PNG\r\n\x1a\n"
    body += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    body += chunk(b"IDAT", data) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(body)


# A real 8000 x 8000 label map (class 3 everywhere): larger than any network runs at.
full_png(os.path.join(out, "gray-8000x8000.png"), 8000, 8000, 3)


# Crafted PyTorch checkpoints of a few hundred bytes whose counts and shapes claim terabytes.
# The pickles name torch's classes the way torch.save writes them; torch itself is not needed.
import collections
import io
import pickle
import sys
import types
import zipfile

torch_module = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")


def _rebuild_tensor_v2(*args):
    raise RuntimeError("only pickled, never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class FloatStorage:
    pass


FloatStorage.__module__ = "torch"
torch_module.FloatStorage = FloatStorage
torch_module._utils = torch_utils
sys.modules["torch"] = torch_module
sys.modules["torch._utils"] = torch_utils


class Storage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce__(self):
        stride, step = [], 1
        for dim in reversed(self.shape):
            stride.insert(0, step)
            step *= dim
        return (
            _rebuild_tensor_v2,
            (self.storage, 0, self.shape, tuple(stride), False, collections.OrderedDict()),
        )


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, obj.key, "cpu", obj.numel)
        return None


def torch_pickle(obj):
    buffer = io.BytesIO()
    TorchPickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


def legacy_pth(path, shape, claimed_elements):
    storage = Storage("0", claimed_elements)
    state = collections.OrderedDict(weight=Tensor(storage, shape))
    data = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    data += pickle.dumps(1001, protocol=2)
    data += pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
    data += torch_pickle(state)
    data += pickle.dumps(["0"], protocol=2)
    data += struct.pack("<Q", claimed_elements) + b"\x00" * 16
    with open(path, "wb") as f:
        f.write(data)


def zip_pth(path, shape):
    state = collections.OrderedDict(weight=Tensor(Storage("0", 4), shape))
    # A fixed date keeps the file the same from run to run.
    entries = [
        ("archive/data.pkl", torch_pickle(state)),
        ("archive/data/0", b"\x00" * 16),
        ("archive/version", b"3\n"),
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 1, 0, 0, 0)), data)


# A storage count of 2^40 float32 elements: 4 TiB.
legacy_pth(os.path.join(out, "legacy-4tib.pth"), (1 << 20, 1 << 20), 1 << 40)
# A count whose byte size overflows 64 bits.
legacy_pth(os.path.join(out, "legacy-overflow.pth"), (4,), 1 << 62)
# A zip checkpoint whose 16-byte tensor claims shape 2^20 x 2^20.
zip_pth(os.path.join(out, "zip-4tib.pth"), (1 << 20, 1 << 20))

# A pickle string (BINUNICODE, 32-bit length) claiming 4 GiB - 1 in a file of a few bytes, in
# the legacy format's sys_info pickle and as a zip checkpoint's data.pkl.
huge_string = b"\x80\x02X\xff\xff\xff\xffabc."
with open(os.path.join(out, "legacy-string-4gib.pth"), "wb") as f:
    f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
    f.write(pickle.dumps(1001, protocol=2))
    f.write(huge_string)
with zipfile.ZipFile(os.path.join(out, "zip-string-4gib.pth"), "w", zipfile.ZIP_STORED) as archive:
    archive.writestr(zipfile.ZipInfo("archive/data.pkl", date_time=(2026, 12, 1, 0, 0, 0)), huge_string)
