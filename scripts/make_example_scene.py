#!/usr/bin/env python3
"""Paints assets/examples/ycor-trail.png, the scene the painter opens with: a forest trail
under a sky, in the ycor palette (ids 0-8, palette-mode PNG). Drawn from simple shapes so the
project ships no dataset file. Python standard library only.

Usage: python3 scripts/make_example_scene.py [OUT.png]
"""
import math
import struct
import sys
import zlib

WIDTH, HEIGHT = 512, 256
SMOOTH_TRAIL, GRASS, ROUGH_TRAIL, OBSTACLE = 1, 2, 3, 5
LOW_VEGETATION, HIGH_VEGETATION, SKY = 6, 7, 8
PALETTE = [
    (255, 255, 255), (178, 176, 153), (128, 255, 0), (156, 76, 30), (255, 0, 128),
    (255, 0, 0), (0, 160, 0), (40, 80, 0), (1, 88, 255),
]


def treeline(x):
    """Height of the canopy edge above the image top, bumpy like crowns."""
    crowns = 14 * math.sin(x / 23.0) + 9 * math.sin(x / 9.0 + 1.3) + 6 * math.sin(x / 4.1)
    return 44 + crowns + 30 * math.exp(-((x - 60) / 70.0) ** 2) - 18 * math.exp(-((x - 300) / 40.0) ** 2)


def trail_half_width(y, horizon):
    """Trail half-width in pixels at row y: a wedge widening towards the viewer."""
    return max(0.0, (y - horizon) * 1.15)


def class_at(x, y):
    horizon = 118
    centre = 256 + 40 * math.sin((y - horizon) / 60.0) * (HEIGHT - y) / HEIGHT
    if y < treeline(x):
        return SKY
    # Forest reaches further down at the image sides, as seen from a trail.
    side_depth = 70 * max(0.0, abs(x - 256) / 256 - 0.45) / 0.55
    if y < horizon + 8 + side_depth:
        return HIGH_VEGETATION
    half = trail_half_width(y, horizon)
    offset = abs(x - centre)
    if offset < half * 0.7:
        return SMOOTH_TRAIL
    if offset < half:
        return ROUGH_TRAIL
    if (x - 120) ** 2 / 900 + (y - 205) ** 2 / 300 < 1:
        return OBSTACLE
    if y < horizon + 30 + 10 * math.sin(x / 17.0):
        return LOW_VEGETATION
    return GRASS


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def png_bytes():
    rows = b"".join(
        b"\x00" + bytes(class_at(x, y) for x in range(WIDTH)) for y in range(HEIGHT)
    )
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 3, 0, 0, 0)
    palette = b"".join(bytes(colour) for colour in PALETTE)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"PLTE", palette)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "assets/examples/ycor-trail.png"
    with open(out, "wb") as f:
        f.write(png_bytes())
    print(f"wrote {out} ({WIDTH}x{HEIGHT})")
