#!/usr/bin/env python3
"""Deterministic test data for the integration tests.

gen.py image SEED SIZE OUT      mixed content: random, text-like, zero runs
gen.py random SEED SIZE OUT     pseudo-random bytes
gen.py records SEED SIZE OUT    package-list-like text records: the same keys in every
                                chunk, which a zstd dictionary learns (make --dict tests)
gen.py edit KIND SEED IN OUT    a realistic edit of IN:
        insert  - 4000 new bytes at 3/7 of the file
        delete  - 5000 bytes removed at 1/5
        modify  - 100 bytes changed at 3/5
        shift   - one byte put in front (shifts everything)
        scatter - 20 small changes spread over the file
"""
import random
import sys


def rand_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def text_block(rng, n):
    words = [b"update", b"chunk", b"device", b"image", b"zstd", b"header", b"range",
             b"verify", b"partition", b"kernel", b"rootfs", b"the", b"a", b"of", b"\n"]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" "
    return bytes(out[:n])


def image(rng, size):
    out = bytearray()
    while len(out) < size:
        kind = rng.random()
        n = rng.randint(1000, 300000)
        if kind < 0.5:
            out += rand_bytes(rng, n)
        elif kind < 0.85:
            out += text_block(rng, n)
        else:
            out += bytes([rng.choice([0, 0xff])]) * n
    return bytes(out[:size])


def records(rng, size):
    keys = [b"package", b"version", b"architecture", b"maintainer", b"depends",
            b"description", b"installed-size", b"section", b"priority", b"homepage",
            b"filename", b"sha256"]
    names = [b"libfoo", b"bar", b"zstd", b"kernel", b"udev", b"ssl"]
    out = bytearray()
    while len(out) < size:
        for k in keys:
            if rng.random() < 0.8:
                out += b"%s: %s-%d.%d\n" % (k, rng.choice(names), rng.randrange(100),
                                           rng.randrange(1000))
        out += b"%08x\n\n" % rng.getrandbits(32)
    return bytes(out[:size])


def edit(kind, rng, data):
    n = len(data)
    if kind == "insert":
        at = n * 3 // 7
        return data[:at] + rand_bytes(rng, 4000) + data[at:]
    if kind == "delete":
        at = n // 5
        return data[:at] + data[at + 5000:]
    if kind == "modify":
        at = n * 3 // 5
        return data[:at] + rand_bytes(rng, 100) + data[at + 100:]
    if kind == "shift":
        return b"\x01" + data
    if kind == "scatter":
        out = bytearray(data)
        for i in range(20):
            at = (i * 2 + 1) * n // 41
            out[at:at + 16] = rand_bytes(rng, 16)
        return bytes(out)
    raise SystemExit("unknown edit " + kind)


def main():
    cmd = sys.argv[1]
    if cmd in ("image", "random", "records"):
        rng = random.Random(int(sys.argv[2]))
        size = int(sys.argv[3])
        gen = {"image": image, "random": rand_bytes, "records": records}[cmd]
        data = gen(rng, size)
        open(sys.argv[4], "wb").write(data)
    elif cmd == "edit":
        rng = random.Random(int(sys.argv[3]))
        data = open(sys.argv[4], "rb").read()
        open(sys.argv[5], "wb").write(edit(sys.argv[2], rng, data))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
