/* SPDX-License-Identifier: MIT */
/*
 * frame - record framing on the downloader socketpair (see frame.h). The
 * checks here are the privileged side's first line against a compromised
 * downloader: nothing but a known type with a bounded payload gets through.
 */
#include "config.h"

#include "fetch/frame.h"
#include "io.h"

#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

/* All of buf, with send(MSG_NOSIGNAL): a peer that is gone is -EPIPE, never a SIGPIPE. */
static int send_full(int fd, const void *buf, size_t n, struct zu_err *err)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return zu_err_sys(err, errno, "send");
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int zu_frame_write(int fd, enum zu_frame_type type, uint64_t off, const void *payload,
		   size_t len, struct zu_err *err)
{
	struct zu_frame_hdr h = { .type = (uint32_t)type, .len = (uint32_t)len, .off = off };
	int r;

	if (len > UINT32_MAX)
		return zu_err_set(err, -EOVERFLOW, "frame payload of %zu bytes", len);
	r = send_full(fd, &h, sizeof(h), err);
	if (r == 0 && len)
		r = send_full(fd, payload, len, err);
	return r;
}

static uint32_t payload_limit(uint32_t type, int to_downloader)
{
	if (to_downloader) {
		switch (type) {
		case ZU_FR_HEAD:
			return 0;
		case ZU_FR_FETCH:
			return ZU_FRAME_RANGES_MAX * (uint32_t)sizeof(struct zu_frame_range);
		default:
			return UINT32_MAX;
		}
	}
	switch (type) {
	case ZU_FR_DATA:
		return ZU_FRAME_DATA_MAX;
	case ZU_FR_STATS:
		return sizeof(struct zu_fetch_stats);
	case ZU_FR_END:
		return 0;
	case ZU_FR_ERROR:
		return ZU_FRAME_MSG_MAX;
	default:
		return UINT32_MAX;
	}
}

int zu_frame_check(const struct zu_frame_hdr *h, int to_downloader, struct zu_err *err)
{
	uint32_t limit = payload_limit(h->type, to_downloader);

	if (limit == UINT32_MAX)
		return zu_err_set(err, -EPROTO, "unknown frame type %" PRIu32, h->type);
	if (h->len > limit)
		return zu_err_set(err, -EPROTO, "frame type %" PRIu32 " with %" PRIu32
				  " bytes (at most %" PRIu32 ")", h->type, h->len, limit);
	if (h->type == ZU_FR_STATS && h->len != sizeof(struct zu_fetch_stats))
		return zu_err_set(err, -EPROTO, "stats frame of %" PRIu32 " bytes", h->len);
	if (h->type == ZU_FR_DATA && h->len == 0)
		return zu_err_set(err, -EPROTO, "empty data frame at offset %" PRIu64, h->off);
	if (h->type == ZU_FR_FETCH && (h->len == 0 || h->len % sizeof(struct zu_frame_range)))
		return zu_err_set(err, -EPROTO, "fetch frame of %" PRIu32 " bytes", h->len);
	return 0;
}

void zu_frame_clean_msg(char *msg, size_t len)
{
	for (size_t i = 0; i < len && msg[i]; i++)
		if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e)
			msg[i] = '?';
}
