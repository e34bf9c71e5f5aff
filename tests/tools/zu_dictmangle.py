#!/usr/bin/env python3
"""zu_dictmangle.py KIND IN.zck OUT.zck OUT.zckh: a copy of IN.zck (which has a dictionary
chunk) with one defect in that chunk, header checksums recomputed so that only the defect is
wrong, and its detached header. Used by tests/integration/dict.sh.

KIND:
  bad-digest  one byte of the stored dictionary flipped, index entry 0 unchanged
  truncated   the stored dictionary frame cut to half its bytes (entry 0 says so, digest of the cut bytes)
  not-a-dict  entry 0 holds random bytes instead of a zstd dictionary (as a valid zstd frame)
  huge        entry 0 declares an uncompressed length of 2^40 bytes
  size-lie    entry 0 declares one byte more than the dictionary has
"""
import hashlib
import random
import subprocess
import sys


def cint_read(b, p):
    v = s = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << s
        if c & 0x80:
            return v, p
        s += 7


def cint(v):
    out = bytearray()
    while True:
        if v < 0x80:
            out.append(v | 0x80)
            return bytes(out)
        out.append(v & 0x7F)
        v >>= 7


def parse(d):
    p = 5
    _, p = cint_read(d, p)
    size, p = cint_read(d, p)
    sum_pos = p
    hdr_len = p + 32 + size
    p += 32
    pre_start = p
    p += 32
    flags, p = cint_read(d, p)
    _, p = cint_read(d, p)
    if flags & 2:
        n, p = cint_read(d, p)
        for _ in range(n):
            _, p = cint_read(d, p)
            sz, p = cint_read(d, p)
            p += sz
    preface = d[pre_start:p]
    _, p = cint_read(d, p)
    ctype, p = cint_read(d, p)
    count, p = cint_read(d, p)
    entries = []
    for _ in range(count):
        dg, ud = d[p:p + 32], d[p + 32:p + 64]
        p += 64
        cl, p = cint_read(d, p)
        ul, p = cint_read(d, p)
        entries.append([dg, ud, cl, ul])
    sigs = d[p:hdr_len]
    return preface, ctype, entries, sigs, d[hdr_len:]


def build(magic, preface, ctype, entries, sigs):
    idx = cint(ctype) + cint(len(entries))
    for dg, ud, cl, ul in entries:
        idx += dg + ud + cint(cl) + cint(ul)
    rest = preface + cint(len(idx)) + idx + sigs
    lead0 = b"\0ZCK1" + cint(1) + cint(len(rest))
    h = hashlib.sha256(lead0 + rest).digest()
    return magic + cint(1) + cint(len(rest)) + h + rest


def main():
    kind, src, out, out_h = sys.argv[1:5]
    d = open(src, "rb").read()
    preface, ctype, entries, sigs, body = parse(d)
    dict_e = entries[0]
    frame, chunks = body[:dict_e[2]], body[dict_e[2]:]
    if dict_e[2] == 0:
        raise SystemExit("no dictionary in " + src)
    if kind == "bad-digest":
        frame = bytearray(frame)
        frame[len(frame) // 2] ^= 0x40
        frame = bytes(frame)
    elif kind == "truncated":
        frame = frame[:len(frame) // 2]
        dict_e[0] = hashlib.sha256(frame).digest()
        dict_e[2] = len(frame)
    elif kind == "not-a-dict":
        raw = random.Random(7).getrandbits(8 * dict_e[3]).to_bytes(dict_e[3], "little")
        frame = subprocess.run(["zstd", "-q", "-c", "--no-check", "-3"], input=raw,
                               stdout=subprocess.PIPE, check=True).stdout
        dict_e[0] = hashlib.sha256(frame).digest()
        dict_e[2] = len(frame)
    elif kind == "huge":
        dict_e[3] = 1 << 40
    elif kind == "size-lie":
        dict_e[3] += 1
    else:
        raise SystemExit("unknown kind " + kind)
    open(out, "wb").write(build(b"\0ZCK1", preface, ctype, entries, sigs) + frame + chunks)
    open(out_h, "wb").write(build(b"\0ZHR1", preface, ctype, entries, sigs))


if __name__ == "__main__":
    main()
