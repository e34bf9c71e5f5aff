#!/usr/bin/env python3
"""Hostile and malformed zchunk files for the hardening tests (tests/integration/hostile.sh)
and the measurements in the closing note of issue 7. Deterministic (seeded), no third-party
modules; `zstd` (the CLI) only for the frame mutations.

zu_hostile.py prefix-run N OUT.zckh
    detached header of N chunks of 131072 bytes whose uncompressed digests all share
    their first 24 bytes with the digest of 131072 zero bytes, and match nothing
    (the quadratic-index attack: plan it against a source of zeros)
zu_hostile.py random-run N OUT.zckh
    the same shape with random digests (the baseline that prefix-run is timed against)
zu_hostile.py near-limit BYTES OUT.zckh
    detached header of about BYTES bytes (random digests, 40000-byte chunks)
zu_hostile.py mutate KIND IN.zck OUT.zck
    a copy of IN.zck (made by zckup make: zstd, no dict) with one defect, header
    checksum recomputed:
      zero-comp      chunk 1 stored with 0 compressed bytes (its bytes removed)
      frame-larger   chunk 1's uncompressed length one byte less than its zstd frame declares
      frame-unsized  chunk 1 re-compressed as a frame without content size that expands
                     beyond the chunk's length (its digests updated, so only the size is wrong)
      dup-digest     chunk 2 claims chunk 1's digests (different data)
      count-minus    the chunk count one less than the index holds (index size kept)
      short-body     the body one byte shorter than the index claims
"""
import hashlib
import os
import random
import subprocess
import sys
import tempfile

MAGIC_FULL = b"\0ZCK1"
MAGIC_DET = b"\0ZHR1"
CHUNK_MAX = 131072


def cint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F)
        v >>= 7
    out.append(v | 0x80)
    return bytes(out)


def read_cint(b, pos):
    v = shift = 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c & 0x80:
            return v, pos


def build_header(entries, detached, image_digest=None, dict_entry=None, count=None):
    """entries: [(digest, udigest, comp_len, len)]; returns the header bytes."""
    flags = 4 | (2 if image_digest else 0)
    preface = bytes(32) + cint(flags) + cint(2)
    if image_digest:
        preface += cint(1) + cint(0x7A75) + cint(32) + image_digest
    d = dict_entry or (bytes(64), 0, 0)
    body = bytearray(cint(1) + cint(len(entries) + 1 if count is None else count))
    body += d[0] + cint(d[1]) + cint(d[2])
    for dg, ud, cl, ln in entries:
        body += dg + ud + cint(cl) + cint(ln)
    index = cint(len(body)) + bytes(body)
    rest = preface + index + cint(0)
    size = len(rest)
    lead_head = cint(1) + cint(size)
    # the checksum is over the header without it, magic taken as "\0ZCK1"
    s = hashlib.sha256(MAGIC_FULL + lead_head + rest).digest()
    return (MAGIC_DET if detached else MAGIC_FULL) + lead_head + s + rest


def parse_zck(data):
    """The header of a zckup-made .zck: (entries, image_digest, header_len)."""
    assert data[:5] == MAGIC_FULL
    pos = 5
    _, pos = read_cint(data, pos)
    size, pos = read_cint(data, pos)
    hdr_len = pos + 32 + size
    pos += 32 + 32
    flags, pos = read_cint(data, pos)
    _, pos = read_cint(data, pos)
    image_digest = None
    if flags & 2:
        n, pos = read_cint(data, pos)
        for _ in range(n):
            eid, pos = read_cint(data, pos)
            esz, pos = read_cint(data, pos)
            if eid == 0x7A75:
                image_digest = data[pos:pos + esz]
            pos += esz
    _, pos = read_cint(data, pos)  # index size
    _, pos = read_cint(data, pos)  # checksum type
    count, pos = read_cint(data, pos)
    entries = []
    for i in range(count):
        dg, ud = data[pos:pos + 32], data[pos + 32:pos + 64]
        pos += 64
        cl, pos = read_cint(data, pos)
        ln, pos = read_cint(data, pos)
        if i > 0:
            entries.append([dg, ud, cl, ln])
    return entries, image_digest, hdr_len


def zstd_frame(raw, sized):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "c")
        with open(p, "wb") as f:
            f.write(raw)
        if sized:
            return subprocess.run(["zstd", "-q", "-c", "--no-check", p], check=True,
                                  stdout=subprocess.PIPE).stdout
        with open(p, "rb") as f:  # from a pipe: zstd does not know the size
            return subprocess.run(["zstd", "-q", "-c", "--no-check"], stdin=f, check=True,
                                  stdout=subprocess.PIPE).stdout


def mutate(kind, src, dst):
    data = open(src, "rb").read()
    entries, img, hdr_len = parse_zck(data)
    frames, off = [], hdr_len
    for e in entries:
        frames.append(data[off:off + e[2]])
        off += e[2]
    count = None
    if kind == "zero-comp":
        entries[1][2] = 0
        frames[1] = b""
    elif kind == "frame-larger":
        entries[1][3] -= 1
    elif kind == "frame-unsized":
        raw = os.urandom(0)  # placeholder, replaced below
        rng = random.Random(7)
        raw = bytes(rng.getrandbits(8) for _ in range(entries[1][3] + 4096))
        f = zstd_frame(raw, sized=False)
        frames[1] = f
        entries[1][0] = hashlib.sha256(f).digest()
        entries[1][2] = len(f)
    elif kind == "dup-digest":
        entries[2][0], entries[2][1] = entries[1][0], entries[1][1]
    elif kind == "count-minus":
        count = len(entries)  # one less than entries + dict
    elif kind != "short-body":
        sys.exit("unknown mutation " + kind)
    hdr = build_header([tuple(e) for e in entries], False, img, count=count)
    out = hdr + b"".join(frames)
    if kind == "short-body":
        out = out[:-1]
    open(dst, "wb").write(out)


def main():
    cmd = sys.argv[1]
    rng = random.Random(20240607)
    if cmd in ("prefix-run", "random-run"):
        n, out = int(sys.argv[2]), sys.argv[3]
        zd = hashlib.sha256(bytes(CHUNK_MAX)).digest()
        entries = []
        for _ in range(n):
            ud = zd[:24] + bytes([zd[24] ^ 0x80]) + rng.getrandbits(56).to_bytes(7, "little")
            if cmd == "random-run":
                ud = rng.getrandbits(256).to_bytes(32, "little")
            entries.append((rng.getrandbits(256).to_bytes(32, "little"), ud, 100, CHUNK_MAX))
        open(out, "wb").write(build_header(entries, True))
    elif cmd == "near-limit":
        want, out = int(sys.argv[2]), sys.argv[3]
        n = (want - 200) // (64 + 3 + 3)
        entries = [(rng.getrandbits(256).to_bytes(32, "little"),
                    rng.getrandbits(256).to_bytes(32, "little"), 30000, 40000) for _ in range(n)]
        open(out, "wb").write(build_header(entries, True))
    elif cmd == "mutate":
        mutate(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
