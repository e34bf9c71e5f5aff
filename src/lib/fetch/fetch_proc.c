/* SPDX-License-Identifier: MIT */
/*
 * fetch_proc - the privileged side of HTTP(S) fetching: starts the
 * downloader process (downloader.c) on a socketpair and turns its frames
 * into records. Nothing from the downloader is trusted: frames are checked
 * (frame.c), records then go through the front end's range checks
 * (fetch.c), and every chunk through its digest (assemble.c). Waiting is
 * done in slices so a cancel request is seen within a fraction of a second
 * even while the network stalls.
 */
#include "config.h"

#include "fetch/downloader.h"
#include "fetch/fetch.h"
#include "fetch/frame.h"
#include "io.h"

#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_SLICE_MS 100

struct proc_priv {
	int sock;
	pid_t pid;
	const zu_cancel_t *cancel;
	uint8_t *buf;             /* ZU_FRAME_DATA_MAX */
	bool busy;                /* a job is running */
	bool dead;                /* the downloader ended or broke the protocol */
	struct zu_fetch_stats st; /* the latest figures */
};

/* Waits until the socket has bytes, checking for cancellation in between. */
static int wait_readable(struct proc_priv *p, struct zu_err *err)
{
	struct pollfd pfd = { .fd = p->sock, .events = POLLIN };

	for (;;) {
		int r;

		if (zu_cancel_requested(p->cancel))
			return zu_err_set(err, -ECANCELED, "cancelled");
		r = poll(&pfd, 1, POLL_SLICE_MS);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return zu_err_sys(err, errno, "poll");
	}
}

static int recv_exact(struct proc_priv *p, void *buf, size_t n, struct zu_err *err)
{
	uint8_t *b = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t k;
		int r = wait_readable(p, err);

		if (r < 0)
			return r;
		k = read(p->sock, b + got, n - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return zu_err_sys(err, errno, "reading from the downloader");
		if (k == 0)
			return zu_err_set(err, -EPROTO, "the downloader exited unexpectedly");
		got += (size_t)k;
	}
	return 0;
}

/* Codes the downloader may report; anything else is its protocol error. */
static int allowed_code(uint64_t v)
{
	static const int ok[] = { EPROTO, EBADMSG, ENOENT, EACCES, ESTALE, ETIMEDOUT,
				  ECONNREFUSED, EHOSTUNREACH, ENOMEM, EIO, EINVAL, EPERM,
				  EOVERFLOW };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (v == (uint64_t)ok[i])
			return -ok[i];
	return -EPROTO;
}

/*
 * Reads frames until a data frame (1, in *out), the end of the job (0) or an
 * error. A failure leaves the downloader marked dead.
 */
static int recv_frame(struct proc_priv *p, struct zu_fetch_rec *out, struct zu_err *err)
{
	for (;;) {
		struct zu_frame_hdr h;
		char msg[ZU_FRAME_MSG_MAX + 1];
		int r;

		r = recv_exact(p, &h, sizeof(h), err);
		if (r == 0)
			r = zu_frame_check(&h, 0, err);
		if (r == 0 && h.len)
			r = recv_exact(p, h.type == ZU_FR_DATA ? (void *)p->buf
					  : h.type == ZU_FR_STATS ? (void *)&p->st : (void *)msg,
				       h.len, err);
		if (r < 0) {
			p->dead = true;
			p->busy = false;
			return r == -ECANCELED ? r : zu_err_prefix(err, "downloader");
		}
		switch (h.type) {
		case ZU_FR_DATA:
			out->off = h.off;
			out->data = p->buf;
			out->len = h.len;
			return 1;
		case ZU_FR_STATS:
			continue;
		case ZU_FR_END:
			p->busy = false;
			return 0;
		default: /* ZU_FR_ERROR */
			msg[h.len] = 0;
			zu_frame_clean_msg(msg, h.len);
			p->dead = true;
			p->busy = false;
			return zu_err_set(err, allowed_code(h.off), "%s", msg);
		}
	}
}

static int send_job(struct proc_priv *p, enum zu_frame_type type, uint64_t off, const void *pl,
		    size_t len, struct zu_err *err)
{
	if (p->dead)
		return zu_err_set(err, -EPROTO, "the downloader has stopped after an error");
	if (p->busy)
		return zu_err_set(err, -EINVAL, "a job is still running");
	p->busy = true;
	if (zu_frame_write(p->sock, type, off, pl, len, err) < 0) {
		struct zu_fetch_rec rec;

		/* it may have said why it stopped (a bad --user, an unreadable --key...) */
		if (recv_frame(p, &rec, err) >= 0)
			zu_err_set(err, -EPROTO, "the downloader stopped before its job");
		p->dead = true;
		p->busy = false;
		return err->code;
	}
	return 0;
}

static int proc_request(void *priv, const struct zu_range *r, size_t n, struct zu_err *err)
{
	struct proc_priv *p = priv;

	if (n > ZU_FRAME_RANGES_MAX)
		return zu_err_set(err, -EOVERFLOW, "%zu ranges in one job", n);
	/* struct zu_range and struct zu_frame_range are the same two fields */
	return send_job(p, ZU_FR_FETCH, 0, r, n * sizeof(*r), err);
}

static int proc_next(void *priv, struct zu_fetch_rec *out, struct zu_err *err)
{
	struct proc_priv *p = priv;

	if (!p->busy)
		return p->dead ? zu_err_set(err, -EPROTO, "the downloader has stopped") : 0;
	return recv_frame(p, out, err);
}

static ssize_t proc_read_head(void *priv, void *buf, size_t n, struct zu_err *err)
{
	struct proc_priv *p = priv;
	struct zu_fetch_rec rec = { 0 };
	size_t got = 0;
	int r;

	r = send_job(p, ZU_FR_HEAD, n, NULL, 0, err);
	while (r >= 0 && (r = recv_frame(p, &rec, err)) == 1) {
		if (rec.off != got || rec.len > n - got) {
			p->dead = true;
			return zu_err_set(err, -EPROTO, "downloader: head bytes at offset %" PRIu64
					  " (%zu bytes) where offset %zu was expected", rec.off,
					  rec.len, got);
		}
		memcpy((uint8_t *)buf + got, rec.data, rec.len);
		got += rec.len;
	}
	return r < 0 ? r : (ssize_t)got;
}

static void proc_stats(void *priv, struct zu_fetch_stats *out)
{
	const struct proc_priv *p = priv;

	*out = p->st;
}

/* Closing the socket ends the downloader; a stuck one is killed. */
static void proc_free(void *priv)
{
	struct proc_priv *p = priv;

	if (!p)
		return;
	if (p->sock >= 0)
		close(p->sock);
	if (p->pid > 0) {
		for (int i = 0; i < 20; i++) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };

			if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
				p->pid = 0;
				break;
			}
			if (i == 0 && (p->busy || p->dead))
				kill(p->pid, SIGKILL); /* mid-job: no need to wait */
			nanosleep(&ts, NULL);
		}
		if (p->pid > 0) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
		}
	}
	free(p->buf);
	free(p);
}

static const struct zu_fetch_ops zu_fetch_proc_ops = {
	.name = "http",
	.whole_batch = true,
	.request = proc_request,
	.next = proc_next,
	.read_head = proc_read_head,
	.stats = proc_stats,
	.free = proc_free,
};

_Static_assert(sizeof(struct zu_range) == sizeof(struct zu_frame_range),
	       "plan ranges go to the downloader as frame ranges");

int zu_fetch_proc_attach(int sock, pid_t pid, const zu_cancel_t *cancel,
			 struct zu_fetch *f, struct zu_err *err)
{
	struct proc_priv *p = calloc(1, sizeof(*p));

	if (p)
		p->buf = malloc(ZU_FRAME_DATA_MAX);
	if (!p || !p->buf) {
		free(p);
		return zu_err_set(err, -ENOMEM, "out of memory");
	}
	p->sock = sock;
	p->pid = pid;
	p->cancel = cancel;
	f->ops = &zu_fetch_proc_ops;
	f->priv = p;
	return 0;
}

int zu_fetch_proc_open(const char *url, const struct zu_net_cfg *net, struct zu_fetch *f,
		       struct zu_err *err)
{
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return zu_err_sys(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		r = zu_err_sys(err, errno, "starting the downloader");
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		close(sv[0]);
		zu_downloader_main(sv[1], url, net);
	}
	close(sv[1]);
	r = zu_fetch_proc_attach(sv[0], pid, net->cancel, f, err);
	if (r < 0) {
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	return r;
}
