/* SPDX-License-Identifier: MIT */
/* memscan CLI: `memscan remote CMD @HOSTS[:PID]` runs CMD on every agent of a hosts file at once, each
 * output line labelled with its host; a name that resolves to several agents (a headless Service) too. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <memscan/client.h>

#include "args.h"
#include "cmd.h"
#include "fleet.h"
#include "output.h"
#include "progress.h"
#include "target.h"

#define FLEET_HOST_MAX  MEMSCAN_FLEET_NAME_LEN
#define FLEET_PARALLEL  32    /* members running at once */
#define FLEET_LINE_MAX  65536 /* a longer output line is cut into pieces, each labelled */
#define FLEET_REDRAW_MS 250   /* the progress line, hidden for output, comes back at most this often */

struct fleet_stream {
	int fd;
	FILE *out;
	char *buf;
	size_t len;
};

struct fleet_member {
	char host[FLEET_HOST_MAX];
	char pin[FLEET_HOST_MAX]; /* the HOST:PORT its agent's key is looked up under */
	pid_t pid;
	struct fleet_stream s[2]; /* the member's stdout and stderr */
	int status;
};

/* "memscan: agents 5 of 16 (31%), 1 failed, ETA 4.0 s" on a terminal's stderr, hidden while a
 * member's line is written (its children's stderr being pipes, the members draw none). */
struct fleet_line {
	struct cli_progress p;
	uint64_t done, failed;
	int64_t drawn_ms; /* when it was last drawn */
	int stale;        /* hidden or out of date: drawn again FLEET_REDRAW_MS after DRAWN_MS */
	int caught[2];    /* SIGINT, SIGTERM: line_on_signal installed, OLD to be restored */
	struct sigaction old[2];
};

static const int line_signals[2] = { SIGINT, SIGTERM };
static volatile sig_atomic_t line_shown; /* the line may be on the screen */

struct fleet {
	cli_cmd_fn run; /* the single-host command each member runs (in a child) */
	struct fleet_member *m;
	size_t count;
	int json, quiet;
	struct fleet_line line;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Ctrl-C or SIGTERM ends the runner as it would without the line (the members get it from the
 * terminal, or see their pipes close), but not with the line left on the screen. */
static void line_on_signal(int sig)
{
	if (line_shown) {
		ssize_t n = write(STDERR_FILENO, "\r\033[K", 4);

		(void)n; /* nothing to be done about it: the process ends */
	}
	raise(sig); /* SA_RESETHAND: as the signal would have done */
}

/* Installs line_on_signal for the signals not ignored (a background job's SIGINT may be). */
static void line_catch(struct fleet_line *l)
{
	struct sigaction sa = { .sa_handler = line_on_signal, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	line_shown = 1;
	for (int i = 0; i < 2; i++)
		l->caught[i] = sigaction(line_signals[i], NULL, &l->old[i]) == 0 &&
		               l->old[i].sa_handler == SIG_DFL && sigaction(line_signals[i], &sa, NULL) == 0;
}

/* Restores what line_catch replaced: at the end, and in each member (whose own command may ask them). */
static void line_release(struct fleet_line *l)
{
	line_shown = 0;
	for (int i = 0; i < 2; i++)
		if (l->caught[i])
			sigaction(line_signals[i], &l->old[i], NULL);
}

/* Clears the progress line before other output to stderr or stdout (the same terminal, maybe). */
static void line_hide(struct fleet *f)
{
	if (!f->line.p.on)
		return;
	cli_progress_hide(&f->line.p);
	f->line.stale = 1;
}

/* Draws the line again if it is stale and was last drawn long enough ago. */
static void line_redraw(struct fleet *f)
{
	struct fleet_line *l = &f->line;

	if (!l->p.on || !l->stale || now_ms() - l->drawn_ms < FLEET_REDRAW_MS)
		return;
	cli_progress_step_failed(&l->p, l->done, l->failed);
	l->drawn_ms = now_ms();
	l->stale = 0;
}

/* How long poll may wait before line_redraw has work: -1 for as long as it takes. */
static int line_wait_ms(const struct fleet *f)
{
	int64_t left = f->line.drawn_ms + FLEET_REDRAW_MS - now_ms();

	if (!f->line.p.on || !f->line.stale)
		return -1;
	return left > 0 ? (int)left : 0;
}

/* Member M ended with M->status: counted on the line. */
static void line_count(struct fleet *f, const struct fleet_member *m)
{
	f->line.done++;
	f->line.failed += m->status != CLI_OK;
	f->line.stale = 1;
}

/* The members of SPEC (memscan_fleet_resolve); the exit code. */
static int load_members(struct fleet *f, const char *spec)
{
	memscan_fleet_member *list = NULL;
	char err[512] = "";
	size_t count = 0;
	int rv = memscan_fleet_resolve(spec, &list, &count, err, sizeof(err));

	if (rv != MEMSCAN_OK) {
		cli_err("%s", err[0] ? err : memscan_strerror(rv));
		return rv == MEMSCAN_ERR_IO || rv == MEMSCAN_ERR_NO_MEMORY ? CLI_FAIL : CLI_USAGE;
	}
	f->m = calloc(count, sizeof(*f->m));
	for (size_t i = 0; f->m && i < count; i++) {
		snprintf(f->m[i].host, sizeof(f->m[i].host), "%s", list[i].host);
		snprintf(f->m[i].pin, sizeof(f->m[i].pin), "%s", list[i].pin_name);
	}
	f->count = f->m ? count : 0;
	free(list);
	return f->m ? CLI_OK : CLI_FAIL;
}

/* One line of member M to OUT: "HOST  LINE", or for --json on stdout the object with "host" first. */
static void emit(struct fleet *f, const struct fleet_member *m, FILE *out, const char *line, size_t len)
{
	line_hide(f);
	if (f->json && out == stdout && len && line[0] == '{') {
		fputs("{\"host\":", out);
		out_json_str(out, m->host);
		if (len > 1 && line[1] != '}')
			fputc(',', out);
		fwrite(line + 1, 1, len - 1, out);
	} else {
		fprintf(out, "%s  ", m->host);
		fwrite(line, 1, len, out);
	}
	fputc('\n', out);
	fflush(out);
}

/* Emits the complete lines of S (all of it at EOF or when full); keeps the rest. */
static void drain(struct fleet *f, const struct fleet_member *m, struct fleet_stream *s, int eof)
{
	size_t start = 0;
	char *nl;

	while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
		emit(f, m, s->out, s->buf + start, (size_t)(nl - (s->buf + start)));
		start = (size_t)(nl - s->buf) + 1;
	}
	if (start < s->len && (eof || s->len == FLEET_LINE_MAX)) {
		emit(f, m, s->out, s->buf + start, s->len - start);
		start = s->len;
	}
	memmove(s->buf, s->buf + start, s->len - start);
	s->len -= start;
}

/* Reads what S's pipe holds; closes it at EOF. */
static void pump(struct fleet *f, const struct fleet_member *m, struct fleet_stream *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, FLEET_LINE_MAX - s->len);

	if (n < 0 && errno == EINTR)
		return;
	if (n > 0) {
		s->len += (size_t)n;
		drain(f, m, s, 0);
		return;
	}
	drain(f, m, s, 1);
	close(s->fd);
	s->fd = -1;
}

/* Forks a member: in the child, what line_catch installed is restored, no signal coming between
 * (its handler would clear the line from the member). */
static pid_t fork_member(struct fleet_line *l)
{
	sigset_t stop, old;
	pid_t pid;

	sigemptyset(&stop);
	for (int i = 0; i < 2; i++)
		sigaddset(&stop, line_signals[i]);
	fflush(stdout);
	fflush(stderr);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid = fork();
	if (pid == 0)
		line_release(l);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return pid;
}

/* Forks member M running `memscan remote` with ARGV (its TARGET already M's), output into pipes. */
static int start_member(struct fleet *f, struct fleet_member *m, int argc, char **argv)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };

	for (int i = 0; i < 2; i++) {
		m->s[i].fd = -1;
		m->s[i].buf = malloc(FLEET_LINE_MAX);
		m->s[i].out = i ? stderr : stdout;
	}
	if (!m->s[0].buf || !m->s[1].buf || pipe(out) || pipe(err))
		goto fail;
	m->pid = fork_member(&f->line);
	if (m->pid < 0)
		goto fail;
	if (m->pid == 0) {
		if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
			_exit(CLI_FAIL);
		close(out[0]);
		close(err[0]);
		close(out[1]);
		close(err[1]);
		int rc = f->run(argc, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	close(out[1]);
	close(err[1]);
	m->s[0].fd = out[0];
	m->s[1].fd = err[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		free(m->s[i].buf);
		m->s[i].buf = NULL;
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	return -1;
}

/* Reaps member M once both its pipes closed; reports a failure that printed nothing. */
static void finish_member(struct fleet *f, struct fleet_member *m)
{
	int status = 0;

	while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR)
		;
	m->status = WIFEXITED(status) ? WEXITSTATUS(status) : CLI_FAIL;
	line_count(f, m);
	if (WIFSIGNALED(status)) {
		line_hide(f);
		fprintf(stderr, "%s  memscan: killed by signal %d\n", m->host, WTERMSIG(status));
	}
	for (int i = 0; i < 2; i++) {
		free(m->s[i].buf);
		m->s[i].buf = NULL;
	}
}

/* Polls the RUNNING members: reads their output, reaps the ones done; how many still run (first in
 * RUNNING). */
static size_t poll_members(struct fleet *f, struct fleet_member **running, size_t nrun)
{
	struct pollfd pfd[2 * FLEET_PARALLEL];
	struct fleet_stream *who[2 * FLEET_PARALLEL];
	struct fleet_member *owner[2 * FLEET_PARALLEL];
	size_t n = 0, kept = 0;

	for (size_t i = 0; i < nrun; i++)
		for (int k = 0; k < 2; k++)
			if (running[i]->s[k].fd >= 0) {
				pfd[n] = (struct pollfd){ .fd = running[i]->s[k].fd, .events = POLLIN };
				who[n] = &running[i]->s[k];
				owner[n++] = running[i];
			}
	if (n && poll(pfd, n, line_wait_ms(f)) < 0 && errno != EINTR)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (pfd[i].revents)
			pump(f, owner[i], who[i]);
	for (size_t i = 0; i < nrun; i++) {
		if (running[i]->s[0].fd < 0 && running[i]->s[1].fd < 0)
			finish_member(f, running[i]);
		else
			running[kept++] = running[i];
	}
	return kept;
}

/* Runs ARGV on every member, FLEET_PARALLEL at a time, ARGV[TARGET] being HOST SUFFIX for each. */
static void run_all(struct fleet *f, int argc, char **argv, int target, const char *suffix)
{
	struct fleet_member *running[FLEET_PARALLEL];
	char text[FLEET_HOST_MAX + 32], *saved = argv[target];
	size_t nrun = 0, next = 0;

	cli_progress_start_steps(&f->line.p, "agents", f->count, f->quiet);
	f->line.stale = 1;
	if (f->line.p.on)
		line_catch(&f->line);
	line_redraw(f);
	while (next < f->count || nrun) {
		while (nrun < FLEET_PARALLEL && next < f->count) {
			struct fleet_member *m = &f->m[next++];

			snprintf(text, sizeof(text), "%s%s", m->host, suffix);
			argv[target] = text;
			cli_pin_name = m->pin; /* each member is held to the key pinned for its name */
			if (start_member(f, m, argc, argv) == 0) {
				running[nrun++] = m;
				continue;
			}
			line_hide(f);
			fprintf(stderr, "%s  memscan: cannot start a process for this host: %s\n", m->host,
			        strerror(errno));
			m->status = CLI_FAIL;
			line_count(f, m);
		}
		nrun = poll_members(f, running, nrun);
		line_redraw(f);
	}
	cli_progress_end(&f->line.p, NULL);
	line_release(&f->line);
	argv[target] = saved;
	cli_pin_name = NULL;
}

/* The exit code: 0 if every member succeeded, 2 if each met the same usage error, else 1. */
static int fleet_status(const struct fleet *f)
{
	size_t failed = 0, usage = 0;

	for (size_t i = 0; i < f->count; i++) {
		failed += f->m[i].status != CLI_OK;
		usage += f->m[i].status == CLI_USAGE;
	}
	return !failed ? CLI_OK : usage == f->count ? CLI_USAGE : CLI_FAIL;
}

/* "@FILE" or "@FILE:PID": the hosts file into PATH, ":PID" (or "") into *RET_SUFFIX. */
static int split_spec(const char *spec, char *path, size_t path_len, const char **ret_suffix)
{
	const char *colon = strrchr(spec, ':');

	*ret_suffix = "";
	if (access(spec + 1, F_OK) != 0 && colon && colon > spec + 1) {
		*ret_suffix = colon;
		spec = spec + 1;
		if ((size_t)(colon - spec) >= path_len)
			return -1;
		snprintf(path, path_len, "%.*s", (int)(colon - spec), spec);
		return 0;
	}
	if (strlen(spec + 1) >= path_len)
		return -1;
	snprintf(path, path_len, "%s", spec + 1);
	return 0;
}

static int fleet_command(const char *cmd)
{
	return !strcmp(cmd, "ps") || !strcmp(cmd, "regions") || !strcmp(cmd, "scan") || !strcmp(cmd, "diff");
}

/* The index in ARGV of a hosts file TARGET (@FILE or @FILE:PID), or 0. */
static int hosts_file_target(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (argv[i][0] == '@' && argv[i][1] && strcmp(argv[i - 1], "-o") &&
		    strcmp(argv[i - 1], "--output"))
			return i;
	return 0;
}

/* Members from the hosts file ARGV[TARGET]; the exit code. */
static int hosts_file_members(struct fleet *f, char **argv, int target, const char **ret_suffix)
{
	char spec[4096];

	if (!fleet_command(argv[1])) {
		cli_err(
		    "remote %s runs on one agent: a hosts file (@FILE) works with ps, regions, scan and diff",
		    argv[1]);
		return CLI_USAGE;
	}
	spec[0] = '@';
	if (split_spec(argv[target], spec + 1, sizeof(spec) - 1, ret_suffix)) {
		cli_err("%s: hosts file name too long", argv[target]);
		return CLI_USAGE;
	}
	return load_members(f, spec);
}

/* Whether ARGV[2] is a name with several addresses: its members into F and ":PID" into SUFFIX. */
static int name_members(struct fleet *f, int argc, char **argv, char *suffix, size_t suffix_len)
{
	char host[256], spec[300];
	unsigned port;
	int pid = 0;

	if (argc < 3 || !fleet_command(argv[1]) || argv[2][0] == '-' ||
	    cli_target_host(argv[2], strcmp(argv[1], "ps") != 0, host, sizeof(host), &port, &pid))
		return 0;
	snprintf(spec, sizeof(spec), "%s:%u", host, port);
	if (load_members(f, spec) != CLI_OK || f->count < 2) {
		free(f->m);
		f->m = NULL;
		f->count = 0;
		return 0; /* one host: the single-host path connects (and reports) */
	}
	snprintf(suffix, suffix_len, pid ? ":%d" : "", pid);
	return 1;
}

int cli_fleet(int argc, char **argv, cli_cmd_fn run, int *ret_code)
{
	struct fleet f = { .run = run };
	char suffix_buf[16] = "";
	const char *suffix = suffix_buf;
	int target = hosts_file_target(argc, argv), rc = CLI_OK;

	*ret_code = CLI_OK;
	if (target)
		rc = hosts_file_members(&f, argv, target, &suffix);
	else if (name_members(&f, argc, argv, suffix_buf, sizeof(suffix_buf)))
		target = 2;
	else
		return 0;
	for (int i = 2; i < argc; i++)
		f.json |= !strcmp(argv[i], "--json");
	f.quiet = cli_args_quiet(argc - 1, argv + 1);
	if (rc == CLI_OK) {
		run_all(&f, argc, argv, target, suffix);
		rc = fleet_status(&f);
	}
	free(f.m);
	*ret_code = rc;
	return 1;
}
