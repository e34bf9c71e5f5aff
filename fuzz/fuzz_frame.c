/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame - libFuzzer target for the privileged side of the downloader's
 * record framing (fetch/fetch_proc.c, fetch/frame.c). The input plays a
 * compromised downloader: after a job of three ranges is sent, the input's
 * bytes arrive on the socketpair as they are (frame headers, payloads,
 * garbage), then the downloader's end closes. The privileged side must end
 * the job with a record stream or an error, never crash, hang or leak; every
 * record it passes on lies inside the ranges asked for, in order, without
 * overlap, and the batch ends complete only when every byte asked for came.
 *
 * Corpus (fuzz/corpus/frame/): a well-formed answer, data outside the ranges,
 * out of order, oversize and truncated frames, an error message frame, stats.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fetch/fetch.h"
#include "fetch/frame.h"
#include "io.h"

/* Input beyond what the socket buffer surely takes without a reader is cut. */
#define FRAME_FUZZ_MAX (96u << 10)

static const struct zu_range ranges[] = { { 10, 5 }, { 100, 3 }, { 4096, 70000 } };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zu_err err = ZU_ERR_INIT;
	struct zu_fetch *f = calloc(1, sizeof(*f));
	struct zu_fetch_rec rec;
	zu_cancel_t cancel = 0;
	uint64_t asked = 0, got = 0, pos = 0;
	size_t ri = 0;
	int sv[2], bufsz = 1 << 20, r;

	CHECK(f != NULL);
	if (size > FRAME_FUZZ_MAX)
		size = FRAME_FUZZ_MAX;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	(void)setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	CHECK(zu_fetch_proc_attach(sv[0], 0, &cancel, f, &err) == 0);
	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		asked += ranges[i].len;
	r = zu_fetch_request(f, ranges, sizeof(ranges) / sizeof(ranges[0]), &err);
	CHECK(r == 0);
	/* the downloader's side: the input, then its end closes */
	if (size > 0)
		CHECK(zu_io_write_full(sv[1], data, size, &err) == 0);
	close(sv[1]);
	while ((r = zu_fetch_next(f, &rec, &err)) == 1) {
		/* inside the ranges, in order, no overlap */
		CHECK(rec.len > 0 && rec.data != NULL);
		while (ri < sizeof(ranges) / sizeof(ranges[0]) &&
		       rec.off >= ranges[ri].off + ranges[ri].len)
			ri++;
		CHECK(ri < sizeof(ranges) / sizeof(ranges[0]));
		CHECK(rec.off >= ranges[ri].off && rec.off >= pos);
		CHECK(rec.off + rec.len <= ranges[ri].off + ranges[ri].len);
		pos = rec.off + rec.len;
		got += rec.len;
		/* the bytes are readable */
		volatile uint8_t sink = rec.data[0] ^ rec.data[rec.len - 1];
		(void)sink;
	}
	/* complete only with every byte asked for; an error has a code and a message */
	CHECK(r == 0 ? got == asked : (r < 0 && err.code == r && err.msg[0] != '\0'));
	zu_fetch_free(f);
	return 0;
}
