/* SPDX-License-Identifier: MIT */
/*
 * downloader - the unprivileged fetch process (see downloader.h). What it
 * may do once set up: talk to the network and to its one socket. It holds no
 * descriptor of a source, a target or a terminal, runs as an unprivileged
 * user (nobody by default when started as root) with no way back
 * (PR_SET_NO_NEW_PRIVS), cannot grow any file (RLIMIT_FSIZE 0), cannot be
 * traced or dumped by other unprivileged processes, and dies with its
 * parent. Certificates and keys are read before privileges are dropped, so a
 * root-only client key works without being readable by the downloader's user.
 */
#include "config.h"

#include "fetch/downloader.h"
#include "fetch/fetch_http.h"
#include "fetch/frame.h"
#include "io.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOCK_FD 3
#define BLOB_MAX (1u << 20)

static void die(int sock, const struct zu_err *err)
{
	struct zu_err e = *err;

	zu_frame_clean_msg(e.msg, sizeof(e.msg));
	if (zu_frame_write(sock, ZU_FR_ERROR, (uint64_t)(e.code < 0 ? -e.code : EPROTO), e.msg,
			   strnlen(e.msg, ZU_FRAME_MSG_MAX - 1), &e) < 0)
		_exit(2);
	_exit(1);
}

static int read_blob(const char *path, const char *what, struct zu_blob *b, struct zu_err *err)
{
	int fd, r;
	ssize_t got;

	if (!path)
		return 0;
	r = zu_io_open_ro(path, &fd, err);
	if (r < 0)
		return zu_err_prefix(err, "%s", what);
	b->data = malloc(BLOB_MAX);
	if (!b->data) {
		close(fd);
		return zu_err_set(err, -ENOMEM, "out of memory");
	}
	got = zu_io_read_full(fd, b->data, BLOB_MAX, err);
	close(fd);
	if (got < 0)
		return zu_err_prefix(err, "%s %s", what, path);
	if ((size_t)got == BLOB_MAX)
		return zu_err_set(err, -EOVERFLOW, "%s %s: larger than %u bytes", what, path,
				  BLOB_MAX);
	b->len = (size_t)got;
	return 0;
}

/* Leaves only /dev/null on 0-2 and the socket on SOCK_FD. */
static int shed_fds(int sock, struct zu_err *err)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return zu_err_sys(err, errno, "/dev/null");
	if (sock != SOCK_FD) {
		if (dup2(sock, SOCK_FD) < 0)
			return zu_err_sys(err, errno, "dup2");
	}
	for (int fd = 0; fd < 3; fd++)
		if (fd != null && dup2(null, fd) < 0)
			return zu_err_sys(err, errno, "dup2");
	if (close_range(SOCK_FD + 1, ~0u, 0) < 0) {
		for (int fd = SOCK_FD + 1; fd < 65536; fd++)
			close(fd);
	}
	if (fcntl(SOCK_FD, F_SETFD, FD_CLOEXEC) < 0)
		return zu_err_sys(err, errno, "fcntl");
	return 0;
}

static int drop_privileges(const char *user, struct zu_err *err)
{
	struct rlimit no_files = { 0, 0 }, no_core = { 0, 0 };
	struct passwd *pw;

	if (geteuid() == 0 || (user && *user)) {
		const char *name = user && *user ? user : "nobody";

		errno = 0;
		pw = getpwnam(name);
		if (!pw)
			return zu_err_set(err, -EINVAL, "downloader user %s: %s", name,
					  errno ? strerror(errno) : "no such user");
		if (pw->pw_uid == 0)
			return zu_err_set(err, -EINVAL, "the downloader must not run as root (%s)",
					  name);
		if (geteuid() != 0 && geteuid() != pw->pw_uid)
			return zu_err_set(err, -EPERM, "cannot become %s without root", name);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		     setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0))
			return zu_err_sys(err, errno, "dropping privileges to %s", name);
		if (setuid(0) == 0)
			return zu_err_set(err, -EPERM, "privileges could be regained");
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return zu_err_sys(err, errno, "PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return zu_err_sys(err, errno, "PR_SET_DUMPABLE");
	if (setrlimit(RLIMIT_FSIZE, &no_files) < 0 || setrlimit(RLIMIT_CORE, &no_core) < 0)
		return zu_err_sys(err, errno, "setrlimit");
	return 0;
}

/* Reads one job and runs it; 0 when the socket closed (the parent is done). */
static int serve_one(int sock, struct zu_http *e, struct zu_err *err)
{
	struct zu_frame_hdr h;
	struct zu_frame_range head, *ranges = NULL;
	struct zu_fetch_stats st;
	ssize_t got;
	size_t n;
	int r;

	got = zu_io_read_full(sock, &h, sizeof(h), err);
	if (got == 0)
		return 0;
	if (got != (ssize_t)sizeof(h))
		return got < 0 ? (int)got : zu_err_set(err, -EPROTO, "short job frame");
	r = zu_frame_check(&h, 1, err);
	if (r < 0)
		return r;
	if (h.type == ZU_FR_HEAD) {
		head = (struct zu_frame_range){ 0, h.off };
		r = h.off ? zu_http_run(e, &head, 1, true, sock, err) : 0;
	} else {
		n = h.len / sizeof(*ranges);
		ranges = malloc(h.len);
		if (!ranges)
			return zu_err_set(err, -ENOMEM, "out of memory for %zu ranges", n);
		got = zu_io_read_full(sock, ranges, h.len, err);
		if (got != (ssize_t)h.len) {
			free(ranges);
			return got < 0 ? (int)got : zu_err_set(err, -EPROTO, "short job frame");
		}
		r = zu_http_run(e, ranges, n, false, sock, err);
		free(ranges);
	}
	zu_http_stats(e, &st);
	if (zu_frame_write(sock, ZU_FR_STATS, 0, &st, sizeof(st), err) < 0)
		return -EPIPE;
	if (r < 0)
		return r;
	r = zu_frame_write(sock, ZU_FR_END, 0, NULL, 0, err);
	return r < 0 ? r : 1;
}

void zu_downloader_main(int sock, const char *url, const struct zu_net_cfg *cfg)
{
	struct zu_http_tls tls;
	struct zu_err err = ZU_ERR_INIT;
	struct zu_http *e = NULL;
	int r;

	memset(&tls, 0, sizeof(tls));
	/* the privileged side handles signals and stops us; we just go with it */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	r = read_blob(cfg->cacert, "--cacert", &tls.cacert, &err);
	if (r == 0)
		r = read_blob(cfg->cert, "--cert", &tls.cert, &err);
	if (r == 0)
		r = read_blob(cfg->key, "--key", &tls.key, &err);
	if (r == 0)
		r = shed_fds(sock, &err);
	if (r < 0)
		die(sock, &err);
	sock = SOCK_FD;
	r = drop_privileges(cfg->user, &err);
	if (r == 0)
		r = zu_http_global_init(&err);
	if (r == 0)
		r = zu_http_new(url, cfg, &tls, &e, &err);
	if (r < 0)
		die(sock, &err);
	while ((r = serve_one(sock, e, &err)) > 0)
		zu_err_clear(&err);
	if (r < 0 && r != -EPIPE) {
		/* the job failed: say why; the parent decides what comes next */
		struct zu_err copy = err;

		zu_frame_clean_msg(copy.msg, sizeof(copy.msg));
		if (zu_frame_write(sock, ZU_FR_ERROR, (uint64_t)-r, copy.msg,
				   strnlen(copy.msg, ZU_FRAME_MSG_MAX - 1), &copy) < 0)
			_exit(2);
	}
	_exit(r < 0 ? 1 : 0);
}
