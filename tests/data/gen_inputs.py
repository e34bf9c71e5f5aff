#!/usr/bin/env python3
"""Writes the deterministic inputs the golden .zck files are made from.
Usage: gen_inputs.py OUTDIR  (writes mixed.bin and sections.txt)"""
import random
import sys

out_dir = sys.argv[1] if len(sys.argv) > 1 else '.'
r = random.Random(20240601)
words = [''.join(r.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(r.randint(2, 9)))
         for _ in range(400)]


def line():
    return ' '.join(r.choice(words) for _ in range(r.randint(5, 15))) + '\n'


# mixed.bin: text with random binary runs, 200000 bytes (zck's own chunker cuts it).
mixed = bytearray()
while len(mixed) < 200000:
    if r.random() < 0.85:
        mixed += line().encode()
    else:
        mixed += bytes(r.getrandbits(8) for _ in range(r.randint(100, 600)))
with open(out_dir + '/mixed.bin', 'wb') as f:
    f.write(bytes(mixed[:200000]))

# sections.txt: text cut into sections that start with "@@@", for `zck -s @@@`.
text = []
for i in range(48):
    text.append('@@@ section %d\n' % i)
    text.extend(line() for _ in range(r.randint(10, 60)))
with open(out_dir + '/sections.txt', 'w') as f:
    f.write(''.join(text))
