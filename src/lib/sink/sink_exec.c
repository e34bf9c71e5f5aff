/* SPDX-License-Identifier: MIT */
/*
 * sink_exec - the command target: the image is streamed into the stdin of
 * `/bin/sh -c CMD` (an flasher, `ssh host dd of=...`, a decompressor...).
 * The pipe is the only buffer, so memory stays bounded and a slow command
 * slows us down. Success means the command read everything and exited 0.
 * The command runs in its own process group, so abort and free reach all it
 * started (shells do not always exec the last command): SIGTERM, SIGKILL
 * after up to 2 s, then reap. The price: it is not in the terminal's
 * foreground group, so it cannot prompt there, and the host must turn Ctrl-C
 * into an abort. Its signal mask and SIGPIPE disposition are reset to
 * defaults, so it behaves as in a shell pipeline.
 *
 * Waiting is bounded by the caller's stop request: writes into the pipe never
 * block in the kernel (our end is non-blocking; room is awaited with poll in
 * 100 ms steps) and the wait for the exit at commit is a loop of the same
 * steps, so a cancel while the command is stopped or still running is seen
 * within one step, and abort then terminates its process group.
 *
 * If zckup itself dies (kill -9), the shell gets SIGKILL from the kernel
 * (PR_SET_PDEATHSIG, set between fork and exec), and so does a command the
 * shell execs in its place: it cannot take the end of its input for the end
 * of a complete image and exit 0. Commands the shell forked (a pipeline, a
 * list) lose their shell, so what follows them in CMD does not run; they
 * themselves see the end of their input. PR_SET_PDEATHSIG follows the thread
 * that started the command: zckup_apply() waits for the command before it
 * returns, so that thread outlives it.
 */
#include "config.h"

#include "sink/sink.h"
#include "sink/sink_stream.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXEC_KILL_GRACE_MS 2000
/* After EPIPE the command is exiting; give it this long to become reapable. */
#define EXEC_EPIPE_GRACE_MS 1000

struct exec_priv {
	int fd;           /* write end of the child's stdin; -1 once closed */
	pid_t pid;        /* also its process group; -1 once reaped (or never started) */
	int why;          /* CLD_EXITED, CLD_KILLED, ... once exec_wait saw it; else 0 */
	int status;       /* exit status or signal number, with why */
	uint64_t written; /* bytes accepted by the pipe */
	char *cmd;        /* for messages; owned */
	const zu_cancel_t *cancel; /* the caller's stop request, checked while we wait */
};

static void exec_close_pipe(struct exec_priv *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/*
 * Waits until the child exits (or stops, when stops is set) without reaping
 * it: a zombie keeps its pid, so the process group can still be signalled
 * safely. timeout_ms < 0 blocks. 1 seen, 0 timed out, <0 -errno.
 */
static int exec_wait(struct exec_priv *s, int timeout_ms, bool stops)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };
	int flags = WEXITED | WNOWAIT | (stops ? WSTOPPED : 0) | (timeout_ms < 0 ? 0 : WNOHANG);
	siginfo_t info;
	int waited = 0;

	while (s->pid > 0) {
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)s->pid, &info, flags) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				s->pid = -1; /* the host reaps children itself: not ours any more */
			return -errno;
		}
		if (info.si_pid == s->pid) {
			s->why = info.si_code;
			s->status = info.si_status;
			return 1;
		}
		if (waited >= timeout_ms)
			return 0;
		nanosleep(&tick, NULL);
		waited += 10;
	}
	return 1;
}

static void exec_reap(struct exec_priv *s)
{
	while (s->pid > 0 && waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	s->pid = -1;
}

/*
 * Sets err to what became of the command; "what" says when. -ECHILD is
 * zckup's code for "the destination command failed" (doc/errors.md).
 */
static int exec_status_err(const struct exec_priv *s, const char *what, struct zu_err *err)
{
	switch (s->why) {
	case CLD_EXITED:
		return zu_err_set(err, -ECHILD, "command '%s' %s: exit status %d", s->cmd, what,
				  s->status);
	case CLD_KILLED:
	case CLD_DUMPED:
		return zu_err_set(err, -ECHILD, "command '%s' %s: killed by signal %d", s->cmd,
				  what, s->status);
	case CLD_STOPPED:
		return zu_err_set(err, -ECHILD,
				  "command '%s' %s: stopped by signal %d (it cannot use the "
				  "terminal)", s->cmd, what, s->status);
	default:
		return zu_err_set(err, -ECHILD, "command '%s' %s", s->cmd, what);
	}
}

static int exec_write_at(void *priv, uint64_t off, const void *p, size_t n, struct zu_err *err)
{
	struct exec_priv *s = priv;
	char what[96];
	size_t done;
	int r;

	if (off != s->written)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "command '%s': stream sinks need bytes in order: offset %" PRIu64
				  " after %" PRIu64 " bytes", s->cmd, off, s->written);
	if (s->fd < 0)
		return zu_err_set(err, -EINVAL, "command '%s': input already closed", s->cmd);
	r = zu_stream_write(s->fd, p, n, s->cancel, &done, err);
	s->written += done;
	if (r == 0)
		return 0;
	if (r != -EPIPE)
		return zu_err_prefix(err, "command '%s'", s->cmd);
	/* The command closed its input: say why, if it has exited by now. */
	exec_close_pipe(s);
	if (exec_wait(s, EXEC_EPIPE_GRACE_MS, false) != 1 ||
	    (s->why == CLD_EXITED && s->status == 0))
		return zu_err_set(err, -EPIPE,
				  "command '%s' stopped reading its input after %" PRIu64 " bytes",
				  s->cmd, s->written);
	snprintf(what, sizeof(what), "stopped reading after %" PRIu64 " bytes", s->written);
	exec_status_err(s, what, err);
	err->code = -EPIPE;
	return -EPIPE;
}

static int exec_commit(void *priv, uint64_t size, struct zu_err *err)
{
	struct exec_priv *s = priv;
	int r;

	if (size != s->written)
		return zu_err_set(err, -ENOTRECOVERABLE,
				  "command '%s': commit of %" PRIu64 " bytes after %" PRIu64
				  " were written", s->cmd, size, s->written);
	/* EOF tells the command the image is complete. */
	exec_close_pipe(s);
	/* Waits in steps, so a stop request ends the wait (then abort kills the group). */
	while ((r = exec_wait(s, s->cancel ? ZU_STREAM_POLL_MS : -1, true)) == 0) {
		if (zu_cancel_requested(s->cancel))
			return zu_err_set(err, -ECANCELED,
					  "cancelled while waiting for command '%s' to finish", s->cmd);
	}
	if (r < 0)
		return zu_err_sys(err, -r, "command '%s': wait", s->cmd);
	if (s->why == CLD_STOPPED)
		return exec_status_err(s, "failed", err); /* abort kills it */
	exec_reap(s);
	if (s->why == CLD_EXITED && s->status == 0)
		return 0;
	return exec_status_err(s, "failed", err);
}

/*
 * Signals the whole process group (the shell and what it started) before the
 * pipe closes: EOF could make the command accept a partial image. SIGKILL
 * follows unconditionally, for group members that ignored SIGTERM.
 */
static void exec_abort(void *priv)
{
	struct exec_priv *s = priv;

	if (s->pid > 0) {
		kill(-s->pid, SIGTERM);
		kill(-s->pid, SIGCONT); /* a stopped process acts on SIGTERM only when resumed */
		if (exec_wait(s, EXEC_KILL_GRACE_MS, false) >= 0 && s->pid > 0) {
			kill(-s->pid, SIGKILL);
			exec_reap(s);
		}
	}
	exec_close_pipe(s);
}

static void exec_free(void *priv)
{
	struct exec_priv *s = priv;

	if (!s)
		return;
	/* Free without commit is a failure path: do not wait for a complete image. */
	exec_abort(s);
	free(s->cmd);
	free(s);
}

static void exec_set_cancel(void *priv, const zu_cancel_t *cancel)
{
	struct exec_priv *s = priv;

	s->cancel = cancel;
}

static const struct zu_sink_ops zu_sink_exec_ops = {
	.name = "exec",
	.write_at = exec_write_at,
	.commit = exec_commit,
	.abort = exec_abort,
	.free = exec_free,
	.set_cancel = exec_set_cancel,
};

/* Keeps fd away from 0..2, so dup2 onto stdin in the child is a real copy. */
static int exec_fd_above_stdio(int *fd, struct zu_err *err)
{
	int nfd;

	if (*fd > 2)
		return 0;
	nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return zu_err_sys(err, errno, "duplicate pipe");
	close(*fd);
	*fd = nfd;
	return 0;
}

/*
 * The child side of exec_spawn(), between fork and exec: async-signal-safe
 * calls only (the host may be multi-threaded). Never returns.
 */
static void exec_child(int rd, pid_t parent, char *const argv[])
{
	struct sigaction dfl;
	sigset_t none;

	/* Its own process group, so abort reaches all it starts. */
	(void)setpgid(0, 0);
	/*
	 * Killed with zckup: if zckup dies (kill -9, OOM) the command must not
	 * see the end of its input as the end of a complete image and go on
	 * (exit 0, `&& reboot`). The check after it closes the race with a
	 * parent that died before the prctl.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(SIGPIPE, &dfl, NULL); /* as in a shell pipeline */
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(rd, STDIN_FILENO) < 0)
		_exit(127);
	execve("/bin/sh", argv, environ);
	_exit(127);
}

static int exec_spawn(struct exec_priv *s, int rd, struct zu_err *err)
{
	char arg0[] = "sh", arg1[] = "-c";
	char *argv[] = { arg0, arg1, s->cmd, NULL };
	pid_t parent = getpid();

	s->pid = fork();
	if (s->pid < 0) {
		s->pid = -1;
		return zu_err_sys(err, errno, "command '%s': start /bin/sh", s->cmd);
	}
	if (s->pid == 0)
		exec_child(rd, parent, argv);
	/*
	 * The child joins its group itself; the parent does it too, as
	 * job-control shells do, so the group exists when we return whoever runs
	 * first, and abort's kill(-pid) finds it. EACCES once the child has
	 * exec'd: it is in its group then.
	 */
	(void)setpgid(s->pid, s->pid);
	return 0;
}

int zu_sink_exec_open(const char *cmd, struct zu_sink *out, struct zu_err *err)
{
	struct exec_priv *s;
	int fds[2] = { -1, -1 };
	int r;

	out->ops = NULL;
	out->priv = NULL;
	if (!cmd || !*cmd)
		return zu_err_set(err, -EINVAL, "exec sink without a command");
	s = calloc(1, sizeof(*s));
	if (!s)
		return zu_err_set(err, -ENOMEM, "cannot allocate an exec sink");
	s->fd = -1;
	s->pid = -1;
	s->cmd = strdup(cmd);
	if (!s->cmd) {
		r = zu_err_set(err, -ENOMEM, "cannot allocate an exec sink");
		goto out;
	}
	/* Both ends close-on-exec: the child gets the read end only as its stdin. */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		r = zu_err_sys(err, errno, "command '%s': pipe", cmd);
		goto out;
	}
	r = exec_fd_above_stdio(&fds[0], err);
	if (r == 0)
		r = exec_spawn(s, fds[0], err);
	if (r < 0)
		goto out;
	/*
	 * Our end alone is non-blocking (the child's read end is another open
	 * file description): writes take what fits and never stall in the
	 * kernel, so a stop request is seen while a stopped command's pipe is full.
	 */
	if (fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0) {
		r = zu_err_sys(err, errno, "command '%s': pipe", cmd);
		goto out;
	}
	s->fd = fds[1];
	fds[1] = -1;
	out->ops = &zu_sink_exec_ops;
	out->priv = s;
	s = NULL;
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	exec_free(s);
	return r;
}
