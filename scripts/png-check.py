#!/usr/bin/env python3
"""Fails (exit 1) when a PNG screenshot is blank: fewer than MIN_INK of its pixels differ from
its most common colour. Standard library only (no Pillow), 8-bit RGB/RGBA/grey PNGs.

    python3 scripts/png-check.py report.png [min_ink_fraction]
"""
import struct
import sys
import zlib
from collections import Counter


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG file")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or interlace != 0 or colour not in (0, 2, 6):
        raise SystemExit(f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = {0: 1, 2: 3, 6: 4}[colour]
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    rows = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, channels, rows


def main():
    path = sys.argv[1]
    min_ink = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
    width, height, channels, rows = pixels(path)
    counts = Counter()
    for row in rows[::4]:  # every 4th row is plenty to tell a page from a blank one
        for x in range(0, width * channels, channels * 2):
            counts[row[x:x + 3]] += 1
    total = sum(counts.values())
    background, most = counts.most_common(1)[0]
    ink = 1 - most / total
    print(f"{path}: {width} x {height}, {ink:.1%} of sampled pixels differ from the background {tuple(background)}")
    if ink < min_ink:
        print(f"{path}: blank page (less than {min_ink:.0%} ink)", file=sys.stderr)
        sys.exit(1)


main()
