#!/usr/bin/env python3
"""Writes the synthetic malformed headers of this directory from ../mixed.zck.
Each is a header only (the body is not needed to fail). Usage: make_malformed.py
(run in this directory). See README.md for what each file tests."""
import hashlib

MAGIC = b'\0ZCK1'


def cint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7f)
        v >>= 7
    out.append(v | 0x80)
    return bytes(out)


def read_cint(b, pos):
    v, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7f) << shift
        shift += 7
        if c & 0x80:
            return v, pos


def parse(h):
    """Splits a header into fields, each kept as its raw encoded bytes."""
    f = {'magic': h[:5]}
    ltype, pos = read_cint(h, 5)
    f['ltype'] = cint(ltype)
    _, pos = read_cint(h, pos)
    pos += 32
    f['data_sum'] = h[pos:pos + 32]
    pos += 32
    flags, pos = read_cint(h, pos)
    f['flags'] = cint(flags)
    comp, pos = read_cint(h, pos)
    f['comp'] = cint(comp)
    f['opt'] = b''
    assert not flags & 2
    _, pos = read_cint(h, pos)
    ctype, pos = read_cint(h, pos)
    f['ctype'] = cint(ctype)
    count, pos = read_cint(h, pos)
    f['count'] = cint(count)
    f['entries'] = []
    for _ in range(count):
        d = h[pos:pos + 64]
        cl, pos = read_cint(h, pos + 64)
        ul, pos = read_cint(h, pos)
        f['entries'].append([d, cint(cl), cint(ul)])
    f['index_extra'] = b''
    f['sigs'] = h[pos:]
    return f


def build(f, isz=None, hsize=None, checksum=None, cut=None):
    """Serialises f; size fields and checksum are computed unless given raw."""
    body = f['ctype'] + f['count'] + b''.join(d + cl + ul for d, cl, ul in f['entries'])
    body += f['index_extra']
    index = (isz if isz is not None else cint(len(body))) + body
    rest = f['data_sum'] + f['flags'] + f['comp'] + f['opt'] + index + f['sigs']
    size = hsize if hsize is not None else cint(len(rest))
    head = f['magic'] + f['ltype'] + size
    if checksum is None:
        checksum = hashlib.sha256(MAGIC + head[5:] + rest).digest()
    out = head + checksum + rest
    return out[:cut] if cut is not None else out


def write(name, data):
    with open(name, 'wb') as fh:
        fh.write(data)


with open('../mixed.zck', 'rb') as fh:
    blob = fh.read()
_, p = read_cint(blob, 5)
hsize, p = read_cint(blob, p)
orig = blob[:p + 32 + hsize]
assert build(parse(orig)) == orig, 'model does not round-trip'


def mutated(**changes):
    f = parse(orig)
    f.update(changes)
    return f


def entries_with(idx, cl=None, ul=None, d=None):
    f = parse(orig)
    e = f['entries'][idx]
    if d is not None:
        e[0] = d
    if cl is not None:
        e[1] = cl
    if ul is not None:
        e[2] = ul
    return f


write('bad-magic.zck', build(mutated(magic=b'\0ZCK2')))
write('truncated-lead.zck', orig[:7])
write('truncated-header.zck', orig[:200])
bad = bytearray(orig)
bad[200] ^= 0x01
write('bad-checksum.zck', bytes(bad))
write('lead-checksum-sha512.zck', build(mutated(ltype=cint(2))))
write('header-size-over-limit.zck', build(parse(orig), hsize=cint(1 << 40)))
write('cint-too-long.zck', build(parse(orig), hsize=b'\x00' * 11 + b'\x80'))
write('cint-over-64-bits.zck', build(parse(orig), hsize=b'\x7f' * 9 + b'\x82'))
write('flag-data-streams.zck', build(mutated(flags=cint(5))))
write('flag-unknown-bit.zck', build(mutated(flags=cint(12))))
write('compression-unknown.zck', build(mutated(comp=cint(3))))
write('chunk-count-2p40.zck', build(mutated(count=cint(1 << 40))))
write('chunk-count-exceeds-index.zck', build(mutated(count=cint(1000))))
write('chunk-count-zero.zck', build(mutated(count=cint(0), entries=[])))
write('index-size-too-large.zck', build(mutated(index_extra=b'\x80'), isz=None))
f = parse(orig)
body_len = len(f['ctype'] + f['count']) + sum(len(d + cl + ul) for d, cl, ul in f['entries'])
write('index-size-too-small.zck', build(f, isz=cint(body_len - 1)))
write('index-size-beyond-header.zck', build(parse(orig), isz=cint(1 << 20)))
write('chunk-len-over-limit.zck', build(entries_with(2, ul=cint(17 << 20))))
write('dict-len-without-data.zck', build(entries_with(0, ul=cint(5))))
write('entry-cint-unterminated.zck', build(mutated(entries=parse(orig)['entries'][:-1]
                                                  + [[b'\0' * 64, b'\x01', b'']])))
write('image-digest-wrong-size.zck',
      build(mutated(flags=cint(6), opt=cint(1) + cint(0x7a75) + cint(31) + b'\x11' * 31)))
write('image-digest-twice.zck',
      build(mutated(flags=cint(6), opt=cint(2) + (cint(0x7a75) + cint(32) + b'\x11' * 32) * 2)))
write('optional-count-huge.zck', build(mutated(flags=cint(6), opt=cint(1 << 30))))
write('signature-data-truncated.zck', build(mutated(sigs=cint(1) + cint(1) + cint(100) + b'abc')))
write('trailing-bytes.zck', build(mutated(sigs=cint(0) + b'\0')))
# zckup's fine layout element 0x7a76: version, log2 piece size, digest bytes, length bytes.
def fine_elem(data, count=1):
    return cint(count) + (cint(0x7a76) + cint(len(data)) + data) * count


write('fine-elem-wrong-size.zck', build(mutated(flags=cint(6), opt=fine_elem(b'\x02\x0c\x08'))))
write('fine-elem-version-1.zck', build(mutated(flags=cint(6), opt=fine_elem(b'\x01\x0c\x10\x02'))))
write('fine-elem-version-3.zck', build(mutated(flags=cint(6), opt=fine_elem(b'\x03\x0c\x08\x02'))))
write('fine-elem-piece-2p30.zck',
      build(mutated(flags=cint(6), opt=fine_elem(b'\x02\x1e\x08\x02'))))
write('fine-elem-digest-4.zck', build(mutated(flags=cint(6), opt=fine_elem(b'\x02\x0c\x04\x02'))))
write('fine-elem-len-bytes-3.zck',
      build(mutated(flags=cint(6), opt=fine_elem(b'\x02\x0c\x08\x03'))))
write('fine-elem-twice.zck', build(mutated(flags=cint(6), opt=fine_elem(b'\x02\x0c\x08\x02', 2))))
