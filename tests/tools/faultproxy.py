#!/usr/bin/env python3
"""faultproxy.py: a loopback HTTP/1.1 proxy that injects faults and latency.

    faultproxy.py --upstream 127.0.0.1:PORT --mode MODE --port-file FILE
                  [--times K] [--skip S] [--after N] [--delay-ms D] [--merge-gap G]
                  [--framing chunked|close] [--log FILE]

Listens on 127.0.0.1:0, writes its port to FILE once it accepts connections, serves until
killed. Each client request is read, asked of the upstream (one upstream connection per
request, "Connection: close"), and the answer is re-emitted to the client, mutated by MODE,
on the client's own keep-alive connection. --times K injects the fault into the first K
requests only and relays the rest unchanged (0, the default: every request); --skip S relays
the first S requests unchanged before that (e.g. a client's header read). --delay-ms D
delays every chunk forwarded in either direction by D ms, order kept, no bandwidth cap: a
round trip costs about 2*D. It works with every mode; "delay" is "pass" with it. --log FILE
gets one line per request:
    req=3 conn=2 mode=corrupt applied=yes range="bytes=0-9,20-29" status=206 sent=431 t=0.2-0.3 note="..."
(sent = bytes written to the client: headers and body; t = seconds since the proxy started,
when the request was read and when its answer ended).

Modes (a mode that does not apply to an answer, e.g. reorder-parts on a single-range answer,
relays it unchanged and logs applied=no):
  pass                 relay unchanged
  delay                pass, with --delay-ms
  drop-after           send the first N bytes of the answer (--after N, counted from the
                       status line; default: half of it), then close the connection
  stall-after          send N bytes, then nothing, until the client closes the connection
  truncate             headers say Content-Length L; send L/2 bytes of body, then close
  corrupt              flip one byte in the middle of the body; in a multipart answer, the
                       middle byte of the middle part's data (framing untouched)
  status-503           503 with Retry-After: 0; status-404, status-416 (with
  status-404, ...      Content-Range: bytes */SIZE), status-500: no upstream data is sent
  ignore-range         ask the upstream without Range and answer its 200 (whole file)
  first-range-only     ask only the first range: one 206 with one Content-Range (S3/GCS/Azure)
  coalesce             one 206 range from the lowest start to the highest end asked
  reorder-parts        multipart answer with the parts in reverse order
  merge-parts          ask the upstream for the ranges merged where adjacent or overlapping
                       (or separated by at most --merge-gap bytes, default 0): fewer parts,
                       each Content-Range still covering what was asked (as Apache and
                       lighttpd merge adjacent ranges)
  bare-lf              multipart framing with LF instead of CRLF (body only)
  no-crlf-before-boundary  the CRLF in front of each boundary line left out
  bad-boundary         the middle part's boundary line has a wrong last character
  range-outside        the middle range asked is shifted by +1 byte (-1 at the end of the
                       file) before asking the upstream: that part has the right bytes for a
                       Content-Range that was not asked
  overlap              an extra part after the middle part repeats the second half of its
                       bytes (correct data); overlap-wrong: the same with every byte flipped
  long-header          the answer carries a header line of 1 MiB
  endless              206 with a Content-Range for the first range and no Content-Length:
                       chunked (--framing chunked, default) or close-delimited (--framing
                       close); the body never ends (generated as it is sent)

Observed with curl 7.88 in front of nginx 1.22 (file of 102400 bytes; `curl -s -D - -r R`;
multi = -r 0-9,100-109,200-209):
  pass, delay          as nginx: 206 multipart/byteranges, 3 parts; with --delay-ms 200 a
                       request costs 0.4 s (time_starttransfer 0.40-0.41), two requests on one
                       connection (curl URL URL) 0.8 s, one connection reused
  drop-after           --after 300: 300 bytes (27 of the body) then EOF, curl exit 18
                       "transfer closed with 342 bytes remaining to read"
  stall-after          --after 300: curl -m 2 exit 28 "Operation timed out ... with 27 out
                       of 369 bytes received"; the proxy keeps the connection until curl quits
  truncate             Content-Length: 369, 184 body bytes, curl exit 18
  corrupt              206 multipart, same length, one byte of part 2 differs (cmp)
  status-503           503, Retry-After: 0; 404; 416 with Content-Range: bytes */102400; 500
  ignore-range         200 OK, Content-Length: 102400
  first-range-only     206, Content-Range: bytes 0-9/102400, 10 bytes
  coalesce             206, Content-Range: bytes 0-209/102400, 210 bytes
  reorder-parts        206 multipart: parts 200-209, 100-109, 0-9
  merge-parts          -r 0-9,10-19,100-109: 2 parts 0-19, 100-109; --merge-gap 100 with
                       multi: 206 single Content-Range: bytes 0-209/102400
  bare-lf              multipart whose framing has no CR; curl keeps it (it does not parse it)
  no-crlf-before-boundary  part data directly followed by "--boundary"
  bad-boundary         the second part's delimiter ends in a different character
  range-outside        parts 0-9, 101-110, 200-209 (asked 100-109)
  overlap              parts 0-9, 100-109, 105-109, 200-209, part 105-109 = bytes of the file;
                       overlap-wrong: part 105-109 holds the bytes xor 0xff
  long-header          curl 7.88: exit 27 "Out of memory" (libcurl refuses a header line
                       over 100 KiB with CURLE_OUT_OF_MEMORY; zckup passes that text on)
  endless              curl -m 2: exit 28 after 2 s with 1.4-2.1 GB received (chunked and
                       close); the proxy's RSS stays at 24 MB (drain-paced writes)
  --times 2, status-503  503, 503, then 206 (three curl runs)

Answers are streamed by pass, delay, ignore-range, first-range-only, coalesce, merge-parts,
range-outside and long-header; the modes that rewrite an answer hold it in memory (the test
files are a few MB). Stdlib only. Traffic only to the upstream given (meant to be 127.0.0.1).
"""

import argparse
import asyncio
import itertools
import os
import re
import sys

CRLF = b"\r\n"
# Not forwarded either way: hop-by-hop, and framing this proxy redoes itself.
SKIP_HEADERS = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                "transfer-encoding", "upgrade", "content-length"}
KEEP = object()             # "forward the client's Range header unchanged"
MAX_HEAD = 1 << 16          # request and upstream answer heads
LONG_HEADER = 1 << 20
STATUS_REASONS = {404: "Not Found", 416: "Range Not Satisfiable",
                  500: "Internal Server Error", 503: "Service Unavailable"}


class ProxyError(Exception):
    """The upstream or the client broke the exchange: end the client connection."""


# ---------------------------------------------------------------------------------------------
# HTTP plumbing


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body = headers, body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def keep_alive(self):
        conn = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


class Answer:
    """An upstream answer; body is None while it is still on the upstream connection."""

    def __init__(self, status, reason, headers, reader=None, writer=None, no_body=False):
        self.status, self.reason, self.headers = status, reason, headers
        self.reader, self.writer, self.no_body = reader, writer, no_body
        self.body = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def length(self):
        v = self.header("content-length")
        chunked = "chunked" in (self.header("transfer-encoding") or "").lower()
        return None if self.no_body or chunked or v is None else int(v)

    async def chunks(self):
        """The body as it arrives (de-chunked)."""
        r = self.reader
        try:
            if self.no_body:
                return
            if "chunked" in (self.header("transfer-encoding") or "").lower():
                while True:
                    size = int((await r.readuntil(CRLF)).split(b";")[0], 16)
                    if size == 0:
                        await skip_trailers(r)
                        return
                    yield await r.readexactly(size)
                    await r.readexactly(2)
            n = self.length()
            if n is None:
                while True:
                    b = await r.read(1 << 16)
                    if not b:
                        return
                    yield b
            while n > 0:
                b = await r.read(min(n, 1 << 16))
                if not b:
                    raise ProxyError("upstream closed %d bytes before the end" % n)
                n -= len(b)
                yield b
        except (asyncio.IncompleteReadError, ValueError) as e:
            raise ProxyError("upstream body: %s" % e) from e
        finally:
            self.close()

    async def read_body(self):
        parts = [b async for b in self.chunks()]
        self.body = b"".join(parts)
        return self.body

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def skip_trailers(r):
    while (await r.readuntil(CRLF)) != CRLF:
        pass


def parse_head(raw):
    lines = raw.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep:
            raise ProxyError("bad header line %r" % line[:80])
        headers.append((k.strip(), v.strip()))
    return lines[0], headers


async def read_request(reader):
    """The next request on a client connection, or None at its end."""
    try:
        raw = await reader.readuntil(CRLF + CRLF)
    except asyncio.IncompleteReadError as e:
        if e.partial.strip():
            raise ProxyError("client closed inside a request") from e
        return None
    except asyncio.LimitOverrunError as e:
        raise ProxyError("request head too long") from e
    first, headers = parse_head(raw)
    try:
        method, target, version = first.split(" ")
    except ValueError as e:
        raise ProxyError("bad request line %r" % first[:80]) from e
    req = Request(method, target, version, headers, b"")
    n = int(req.header("content-length") or 0)
    if n:
        req.body = await reader.readexactly(n)
    return req


def head_bytes(status, reason, headers, length=None, chunked=False, keep=True, extra=b""):
    out = ["HTTP/1.1 %d %s" % (status, reason)]
    out += ["%s: %s" % (k, v) for k, v in headers if k.lower() not in SKIP_HEADERS]
    if length is not None:
        out.append("Content-Length: %d" % length)
    if chunked:
        out.append("Transfer-Encoding: chunked")
    out.append("Connection: " + ("keep-alive" if keep else "close"))
    return ("\r\n".join(out) + "\r\n").encode("latin-1") + extra + CRLF


def parse_ranges(value):
    """[(start, end)] of a "bytes=a-b,c-d" header, or None when absent or not all closed
    a-b ranges (open and suffix ranges are relayed as they are)."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(.*)", value)
    if not m:
        return None
    out = []
    for spec in m.group(1).split(","):
        m2 = re.fullmatch(r"\s*(\d+)-(\d+)\s*", spec)
        if not m2:
            return None
        out.append((int(m2.group(1)), int(m2.group(2))))
    return out


def format_ranges(ranges):
    return "bytes=" + ",".join("%d-%d" % (s, e) for s, e in ranges)


def content_range(value):
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not m:
        raise ProxyError("bad Content-Range %r" % value)
    return int(m.group(1)), int(m.group(2)), m.group(3)


class Part:
    def __init__(self, start, end, total, data, ctype, offset):
        self.start, self.end, self.total, self.data = start, end, total, data
        self.ctype, self.offset = ctype, offset     # offset: of data in the upstream body


def parse_parts(ans):
    """The parts of a 206 answer (one for a single range), or None for anything else."""
    if ans.status != 206:
        return None
    ctype = ans.header("content-type") or ""
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not ctype.lower().startswith("multipart/byteranges") or not m:
        s, e, total = content_range(ans.header("content-range"))
        return [Part(s, e, total, ans.body, ctype or "application/octet-stream", 0)]
    delim = b"--" + m.group(1).encode("latin-1")
    body, parts, pos = ans.body, [], 0
    while True:
        at = body.find(delim, pos)
        if at < 0:
            raise ProxyError("multipart: boundary missing")
        pos = at + len(delim)
        if body.startswith(b"--", pos):
            return parts
        hend = body.find(CRLF + CRLF, pos)
        if hend < 0:
            raise ProxyError("multipart: part headers unterminated")
        _, headers = parse_head(body[pos:hend])   # first "line" is the rest of the delimiter
        h = {k.lower(): v for k, v in headers}
        s, e, total = content_range(h.get("content-range"))
        data_at = hend + 4
        parts.append(Part(s, e, total, body[data_at:data_at + e - s + 1],
                          h.get("content-type", "application/octet-stream"), data_at))
        pos = data_at + e - s + 1


def build_multipart(parts, boundary, nl=CRLF, nl_before=True, bad_index=None):
    out = []
    for i, p in enumerate(parts):
        b = boundary
        if i == bad_index:
            b = b[:-1] + (b"X" if b[-1:] != b"X" else b"Y")
        out += [nl if nl_before else b"", b"--", b, nl,
                b"Content-Type: ", p.ctype.encode("latin-1"), nl,
                b"Content-Range: bytes %d-%d/%s" % (p.start, p.end, p.total.encode()), nl,
                nl, p.data]
    out += [nl if nl_before else b"", b"--", boundary, b"--", nl]
    return b"".join(out)


# ---------------------------------------------------------------------------------------------
# One client connection


class DelayLine:
    """Delivers each chunk D seconds after it was handed over, in order, without a cap."""

    def __init__(self, write, drain, delay):
        self.write_now, self.drain_now, self.delay = write, drain, delay
        self.queue = asyncio.Queue()
        self.error = None
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self):
        loop = asyncio.get_running_loop()
        while True:
            due, data, done = await self.queue.get()
            if self.error is None:
                try:
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())
                    if data:
                        self.write_now(data)
                        await self.drain_now()
                except (ConnectionError, OSError) as e:
                    self.error = e
            if done is not None:
                done.set_result(None)

    def put(self, data, done=None):
        self.queue.put_nowait((asyncio.get_running_loop().time() + self.delay, data, done))

    async def flush(self):
        done = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((0, b"", done))
        await done
        if self.error:
            raise self.error


class Conn:
    """A client connection and what the current request's log line will say."""

    def __init__(self, proxy, reader, writer, number):
        self.proxy, self.cfg, self.reader, self.writer = proxy, proxy.cfg, reader, writer
        self.number = number
        self.delay = self.cfg.delay_ms / 1000.0
        self.line = DelayLine(writer.write, writer.drain, self.delay) if self.delay else None
        self.reset()

    def reset(self):
        self.sent, self.status, self.applied, self.note = 0, 0, False, ""

    async def send(self, data):
        self.sent += len(data)
        if self.line:
            self.line.put(data)
            if self.line.error:
                raise self.line.error
        else:
            self.writer.write(data)
            await self.writer.drain()

    async def flush(self):
        if self.line:
            await self.line.flush()

    async def upstream(self, req, range_value=KEEP, method=None):
        """Ask the upstream; the answer's head is read, its body left on the connection."""
        if self.delay:
            await asyncio.sleep(self.delay)     # the request's bytes, on their way up
        host, port = self.cfg.upstream
        try:
            r, w = await asyncio.open_connection(host, port, limit=MAX_HEAD)
        except OSError as e:
            raise ProxyError("upstream: %s" % e) from e
        rv = req.header("range") if range_value is KEEP else range_value
        headers = [(k, v) for k, v in req.headers
                   if k.lower() not in SKIP_HEADERS and k.lower() != "range"]
        if rv:
            headers.append(("Range", rv))
        method = method or req.method
        head = ["%s %s HTTP/1.1" % (method, req.target)] + ["%s: %s" % h for h in headers]
        head += ["Content-Length: %d" % len(req.body)] if req.body else []
        head += ["Connection: close", "", ""]
        w.write("\r\n".join(head).encode("latin-1") + req.body)
        try:
            raw = await r.readuntil(CRLF + CRLF)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as e:
            w.close()
            raise ProxyError("upstream answer head: %s" % e) from e
        first, headers = parse_head(raw)
        m = re.fullmatch(r"HTTP/1\.[01] (\d{3}) ?(.*)", first)
        if not m:
            w.close()
            raise ProxyError("upstream status line %r" % first[:80])
        status = int(m.group(1))
        no_body = method == "HEAD" or status in (204, 304) or status < 200
        return Answer(status, m.group(2), headers, r, w, no_body)

    async def fetch(self, req, range_value=KEEP):
        ans = await self.upstream(req, range_value)
        await ans.read_body()
        return ans

    async def relay(self, req, range_value=KEEP, extra=b""):
        """The upstream's answer to (a variant of) req, streamed when its length is known."""
        ans = await self.upstream(req, range_value)
        self.status = ans.status
        keep = req.keep_alive()
        n = ans.length()
        if n is None and not ans.no_body:
            body = await ans.read_body()
            await self.send(head_bytes(ans.status, ans.reason, ans.headers, len(body), keep=keep,
                                       extra=extra) + body)
            return keep
        await self.send(head_bytes(ans.status, ans.reason, ans.headers,
                                   None if ans.no_body else n, keep=keep, extra=extra))
        async for b in ans.chunks():
            await self.send(b)
        return keep

    async def answer(self, ans, body, keep):
        """A buffered answer (ans's status and headers) with body."""
        self.status = ans.status
        await self.send(head_bytes(ans.status, ans.reason, ans.headers, len(body), keep=keep) +
                        body)
        return keep

    async def answer_parts(self, req, ans, parts, **kw):
        """parts as a multipart/byteranges answer (our framing, see build_multipart)."""
        boundary = b"faultproxy%08d" % self.proxy.requests
        headers = [(k, v) for k, v in ans.headers
                   if k.lower() not in ("content-type", "content-range")]
        headers.append(("Content-Type",
                        "multipart/byteranges; boundary=" + boundary.decode()))
        ans = Answer(206, ans.reason, headers)
        return await self.answer(ans, build_multipart(parts, boundary, **kw), req.keep_alive())


# ---------------------------------------------------------------------------------------------
# Modes: each answers one request on conn and returns whether the connection stays open.


async def mode_pass(conn, req):
    return await conn.relay(req)


async def send_cut(conn, req):
    """The first --after bytes of the answer (default half); returns how many there were."""
    ans = await conn.fetch(req)
    wire = head_bytes(ans.status, ans.reason, ans.headers, len(ans.body), keep=req.keep_alive())
    wire += ans.body
    n = conn.cfg.after if conn.cfg.after >= 0 else len(wire) // 2
    conn.status, conn.applied = ans.status, n < len(wire)
    conn.note = "%d of %d bytes" % (min(n, len(wire)), len(wire))
    await conn.send(wire[:n])
    await conn.flush()
    return conn.applied


async def mode_drop_after(conn, req):
    if not await send_cut(conn, req):
        return req.keep_alive()
    return False


async def mode_stall_after(conn, req):
    if not await send_cut(conn, req):
        return req.keep_alive()
    conn.note += ", stalled"
    while await conn.reader.read(1 << 16):     # until the client gives up
        pass
    return False


async def mode_truncate(conn, req):
    ans = await conn.fetch(req)
    n = len(ans.body)
    if n < 2:
        return await conn.answer(ans, ans.body, req.keep_alive())
    conn.status, conn.applied = ans.status, True
    conn.note = "Content-Length %d, sent %d" % (n, n // 2)
    await conn.send(head_bytes(ans.status, ans.reason, ans.headers, n, keep=False) +
                    ans.body[:n // 2])
    return False


async def mode_corrupt(conn, req):
    ans = await conn.fetch(req)
    body = bytearray(ans.body)
    parts = parse_parts(ans)
    if parts:
        p = parts[len(parts) // 2]
        at = p.offset + len(p.data) // 2
        conn.note = "part %d-%d, file byte %d" % (p.start, p.end, p.start + len(p.data) // 2)
    else:
        at = len(body) // 2
        conn.note = "body byte %d" % at
    if body:
        body[at] ^= 0xFF
        conn.applied = True
    return await conn.answer(ans, bytes(body), req.keep_alive())


async def status_answer(conn, req, status):
    headers = [("Content-Type", "text/plain")]
    if status == 503:
        headers.append(("Retry-After", "0"))
    if status == 416:
        head = await conn.upstream(req, None, method="HEAD")
        head.close()
        size = head.header("content-length")
        headers.append(("Content-Range", "bytes */%s" % (size or "*")))
    elif conn.delay:
        await asyncio.sleep(conn.delay)
    body = ("%d %s (faultproxy)\n" % (status, STATUS_REASONS[status])).encode()
    conn.status, conn.applied = status, True
    keep = req.keep_alive()
    await conn.send(head_bytes(status, STATUS_REASONS[status], headers, len(body), keep=keep) +
                    body)
    return keep


async def mode_ignore_range(conn, req):
    conn.applied = req.header("range") is not None
    return await conn.relay(req, None)


async def mode_first_range_only(conn, req):
    ranges = parse_ranges(req.header("range"))
    if not ranges or len(ranges) < 2:
        return await conn.relay(req)
    conn.applied, conn.note = True, "asked upstream %s" % format_ranges(ranges[:1])
    return await conn.relay(req, format_ranges(ranges[:1]))


async def mode_coalesce(conn, req):
    ranges = parse_ranges(req.header("range"))
    if not ranges or len(ranges) < 2:
        return await conn.relay(req)
    span = [(min(s for s, _ in ranges), max(e for _, e in ranges))]
    conn.applied, conn.note = True, "asked upstream %s" % format_ranges(span)
    return await conn.relay(req, format_ranges(span))


async def multipart_or_relay(conn, req, min_parts=2):
    """The upstream's parts when it answered with at least min_parts, else None (relayed)."""
    ans = await conn.fetch(req)
    parts = parse_parts(ans)
    if parts is None or len(parts) < min_parts:
        await conn.answer(ans, ans.body, req.keep_alive())
        return None, ans
    conn.applied = True
    return parts, ans


async def mode_reorder_parts(conn, req):
    parts, ans = await multipart_or_relay(conn, req)
    if parts is None:
        return req.keep_alive()
    return await conn.answer_parts(req, ans, parts[::-1])


async def mode_merge_parts(conn, req):
    ranges = parse_ranges(req.header("range"))
    if not ranges or len(ranges) < 2:
        return await conn.relay(req)
    merged = [list(ranges[0])]
    for s, e in ranges[1:]:
        if merged[-1][0] <= s <= merged[-1][1] + 1 + conn.cfg.merge_gap:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    if len(merged) == len(ranges):
        return await conn.relay(req)
    conn.applied = True
    conn.note = "%d ranges merged into %d" % (len(ranges), len(merged))
    return await conn.relay(req, format_ranges(merged))


async def mode_bare_lf(conn, req):
    parts, ans = await multipart_or_relay(conn, req)
    if parts is None:
        return req.keep_alive()
    return await conn.answer_parts(req, ans, parts, nl=b"\n")


async def mode_no_crlf_before_boundary(conn, req):
    parts, ans = await multipart_or_relay(conn, req)
    if parts is None:
        return req.keep_alive()
    return await conn.answer_parts(req, ans, parts, nl_before=False)


async def mode_bad_boundary(conn, req):
    parts, ans = await multipart_or_relay(conn, req)
    if parts is None:
        return req.keep_alive()
    conn.note = "boundary of part %d of %d" % (len(parts) // 2 + 1, len(parts))
    return await conn.answer_parts(req, ans, parts, bad_index=len(parts) // 2)


async def mode_range_outside(conn, req):
    ranges = parse_ranges(req.header("range"))
    if not ranges:
        return await conn.relay(req)
    i = len(ranges) // 2
    s, e = ranges[i]
    head = await conn.upstream(req, None, method="HEAD")
    head.close()
    size = int(head.header("content-length") or 0)
    shift = 1 if e + 1 < size else -1
    if s + shift < 0:
        return await conn.relay(req)
    ranges[i] = (s + shift, e + shift)
    conn.applied, conn.note = True, "range %d-%d sent as %d-%d" % (s, e, s + shift, e + shift)
    return await conn.relay(req, format_ranges(ranges))


async def overlap(conn, req, wrong):
    parts, ans = await multipart_or_relay(conn, req, min_parts=1)
    if parts is None:
        return req.keep_alive()
    i = len(parts) // 2
    p = parts[i]
    half = len(p.data) // 2
    data = p.data[half:]
    if wrong:
        data = bytes(b ^ 0xFF for b in data)
    extra = Part(p.start + half, p.end, p.total, data, p.ctype, 0)
    conn.note = "extra part %d-%d after %d-%d" % (extra.start, extra.end, p.start, p.end)
    return await conn.answer_parts(req, ans, parts[:i + 1] + [extra] + parts[i + 1:])


async def mode_overlap(conn, req):
    return await overlap(conn, req, wrong=False)


async def mode_overlap_wrong(conn, req):
    return await overlap(conn, req, wrong=True)


async def mode_long_header(conn, req):
    conn.applied = True
    return await conn.relay(req, extra=b"X-Faultproxy-Padding: " + b"x" * LONG_HEADER + CRLF)


async def mode_endless(conn, req):
    ranges = parse_ranges(req.header("range")) or [(0, 1 << 20)]
    s, e = ranges[0]
    headers = [("Content-Type", "application/octet-stream"),
               ("Content-Range", "bytes %d-%d/*" % (s, e))]
    chunked = conn.cfg.framing == "chunked"
    conn.status, conn.applied, conn.note = 206, True, conn.cfg.framing
    if conn.delay:
        await asyncio.sleep(conn.delay)
    await conn.send(head_bytes(206, "Partial Content", headers, chunked=chunked, keep=chunked))
    block = bytes(range(256)) * 256
    if chunked:
        block = b"%x\r\n" % len(block) + block + CRLF
    while True:     # drain-paced: memory stays at one block (plus the delay line, if any)
        await conn.send(block)
        if conn.line and conn.line.queue.qsize() > 64:
            await conn.line.flush()


MODES = {
    "pass": mode_pass,
    "delay": mode_pass,
    "drop-after": mode_drop_after,
    "stall-after": mode_stall_after,
    "truncate": mode_truncate,
    "corrupt": mode_corrupt,
    "status-503": lambda c, r: status_answer(c, r, 503),
    "status-404": lambda c, r: status_answer(c, r, 404),
    "status-416": lambda c, r: status_answer(c, r, 416),
    "status-500": lambda c, r: status_answer(c, r, 500),
    "ignore-range": mode_ignore_range,
    "first-range-only": mode_first_range_only,
    "coalesce": mode_coalesce,
    "reorder-parts": mode_reorder_parts,
    "merge-parts": mode_merge_parts,
    "bare-lf": mode_bare_lf,
    "no-crlf-before-boundary": mode_no_crlf_before_boundary,
    "bad-boundary": mode_bad_boundary,
    "range-outside": mode_range_outside,
    "overlap": mode_overlap,
    "overlap-wrong": mode_overlap_wrong,
    "long-header": mode_long_header,
    "endless": mode_endless,
}


# ---------------------------------------------------------------------------------------------
# Server


class Proxy:
    def __init__(self, cfg):
        self.cfg = cfg
        self.requests = 0
        self.conns = itertools.count(1)
        self.log = open(cfg.log, "a", buffering=1) if cfg.log else None
        self.t0 = None

    def clock(self):
        """Seconds since the proxy started."""
        now = asyncio.get_running_loop().time()
        if self.t0 is None:
            self.t0 = now
        return now - self.t0

    def log_line(self, conn, n, mode, req, error=""):
        if not self.log:
            return
        note = conn.note + ("; " if conn.note and error else "") + error
        self.log.write('req=%d conn=%d mode=%s applied=%s range="%s" status=%d sent=%d t=%.3f-%.3f'
                       ' note="%s"\n'
                       % (n, conn.number, mode, "yes" if conn.applied else "no",
                          req.header("range") or "", conn.status, conn.sent, conn.t_start,
                          self.clock(), note))

    async def serve_conn(self, reader, writer):
        conn = Conn(self, reader, writer, next(self.conns))
        try:
            while True:
                try:
                    req = await read_request(reader)
                except (ProxyError, ConnectionError, OSError):
                    break
                if req is None:
                    break
                self.requests += 1
                n = self.requests
                mode = self.cfg.mode
                if n <= self.cfg.skip or (self.cfg.times and n > self.cfg.skip + self.cfg.times):
                    mode = "pass"
                conn.reset()
                conn.t_start = self.clock()
                keep, error = False, ""
                try:
                    keep = await MODES[mode](conn, req)
                    await conn.flush()
                except ProxyError as e:
                    error = str(e)
                except (ConnectionError, OSError) as e:
                    error = "client: %s" % (e.__class__.__name__)
                except Exception as e:  # a bug here: say so in the log, keep serving others
                    error = "faultproxy bug: %r" % e
                    print("faultproxy: request %d: %r" % (n, e), file=sys.stderr)
                self.log_line(conn, n, mode, req, error)
                if not keep or error:
                    break
        finally:
            if conn.line:
                conn.line.task.cancel()
            writer.close()

    async def run(self):
        self.clock()
        server = await asyncio.start_server(self.serve_conn, "127.0.0.1", 0, limit=MAX_HEAD)
        port = server.sockets[0].getsockname()[1]
        tmp = self.cfg.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, self.cfg.port_file)
        async with server:
            await server.serve_forever()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    ap.add_argument("--mode", required=True, choices=sorted(MODES))
    ap.add_argument("--times", type=int, default=0, help="fault the first K requests (0: all)")
    ap.add_argument("--skip", type=int, default=0, help="relay the first S requests unchanged")
    ap.add_argument("--after", type=int, default=-1, help="bytes before drop/stall")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--merge-gap", type=int, default=0)
    ap.add_argument("--framing", choices=("chunked", "close"), default="chunked")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log")
    cfg = ap.parse_args()
    host, _, port = cfg.upstream.rpartition(":")
    cfg.upstream = (host, int(port))
    if cfg.mode == "delay" and cfg.delay_ms <= 0:
        ap.error("--mode delay needs --delay-ms")
    try:
        asyncio.run(Proxy(cfg).run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
