/* SPDX-License-Identifier: MIT */
/*
 * frame - the records exchanged on the socketpair between the privileged
 * process and the unprivileged downloader. A frame is a fixed header
 * (type, payload length, offset) and a payload. Both ends check every frame:
 * the reader refuses unknown types and payloads beyond the type's limit, so
 * a compromised downloader can at worst send bytes that fail verification.
 * Both processes are one binary on one machine: fields are in host order.
 */
#ifndef ZU_FRAME_H
#define ZU_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum zu_frame_type {
	/* privileged -> downloader */
	ZU_FR_HEAD = 1,   /* off = byte count: send the resource's first bytes (fewer if shorter) */
	ZU_FR_FETCH = 2,  /* payload: struct zu_frame_range[]; send exactly those bytes */
	/* downloader -> privileged */
	ZU_FR_DATA = 16,  /* off = resource offset, payload = bytes */
	ZU_FR_STATS = 17, /* payload: struct zu_fetch_stats */
	ZU_FR_END = 18,   /* the job is complete */
	ZU_FR_ERROR = 19, /* off = errno value (positive), payload = message */
};

#define ZU_FRAME_DATA_MAX (256u << 10)
#define ZU_FRAME_MSG_MAX 480u
/* A job's range list (plan ranges are at most one per chunk). */
#define ZU_FRAME_RANGES_MAX (8u << 20)

struct zu_frame_hdr {
	uint32_t type;
	uint32_t len;     /* payload bytes that follow */
	uint64_t off;
};

struct zu_frame_range {
	uint64_t off;
	uint64_t len;
};

/* How the resource was served; reported in the summary. */
enum zu_fetch_mode {
	ZU_FETCH_MODE_NONE = 0,
	ZU_FETCH_MODE_FILE,         /* a local file */
	ZU_FETCH_MODE_MULTI,        /* several ranges per request, multipart answers */
	ZU_FETCH_MODE_SINGLE,       /* one range per request (the server serves no more) */
	ZU_FETCH_MODE_WHOLE,        /* the server ignores Range: the file was streamed through */
};

struct zu_fetch_stats {
	uint64_t requests;      /* HTTP requests sent (header reads included) */
	uint64_t ranges;        /* byte ranges asked for in them */
	uint64_t wire_bytes;    /* response bytes received: headers and bodies */
	uint64_t sent_bytes;    /* request bytes sent */
	uint64_t payload_bytes; /* resource bytes received that were asked for */
	uint64_t unasked_bytes; /* resource bytes received and dropped (gaps, whole-file mode) */
	uint64_t retries;       /* requests sent again after a failure */
	uint64_t stepdowns;     /* times the ranges per request were lowered */
	uint32_t mode;          /* enum zu_fetch_mode */
	uint32_t http_version;  /* 10, 11, 20, 30; 0 unknown */
	uint32_t max_ranges;    /* ranges per request in effect at the end */
	uint32_t connections;
};

/* Writes one frame (blocking, all of it). */
int zu_frame_write(int fd, enum zu_frame_type type, uint64_t off, const void *payload,
		   size_t len, struct zu_err *err) __attribute__((warn_unused_result));

/*
 * Checks a received header against what the reader accepts: a known type of
 * the reader's direction (to_downloader) with a payload within its limit.
 * -EPROTO with a message otherwise.
 */
int zu_frame_check(const struct zu_frame_hdr *h, int to_downloader, struct zu_err *err)
	__attribute__((warn_unused_result));

/* Makes an untrusted message printable: bytes outside 0x20..0x7e become '?'. */
void zu_frame_clean_msg(char *msg, size_t len);

#endif
