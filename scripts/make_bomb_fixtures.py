#!/usr/bin/env python3
"""Writes tests/fixtures/bombs/: PNG files of a few hundred bytes whose headers claim sizes
that would need gigabytes to decode (issue 19). The pixel data is a few compressed rows; a
reader that allocates from the header before checking it asks for the whole image.

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
