/* SPDX-License-Identifier: MIT */
/* Agent test helpers: a real memscan-agent on throwaway keys, an honest REQ peer and a raw TCP peer. */
#include "agentutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/protocol/reqrep0/req.h>
#include <sodium.h>

ms_launch ms_launch_agent;

/* ---- a running agent ---- */

int ms_agent_make_key(ms_agent *a, ms_agent_key *k, const char *name)
{
	char err[256];

	snprintf(k->path, sizeof(k->path), "%s/%s", a->dir, name);
	if (keyfile_generate(k->path, name, k->pub, err, sizeof(err)) != 0 ||
	    keyfile_load_private(k->path, k->priv, k->pub, err, sizeof(err)) != 0) {
		print_error("%s: %s\n", k->path, err);
		return -1;
	}
	return 0;
}

int ms_agent_write_auth_text(ms_agent *a, const char *text)
{
	FILE *f = fopen(a->auth_path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

int ms_agent_write_auth(ms_agent *a, int with_full, int with_list)
{
	char full[128], list[128];
	FILE *f = fopen(a->auth_path, "w");

	if (!f)
		return -1;
	keyfile_format_public(a->full.pub, full, sizeof(full));
	keyfile_format_public(a->listonly.pub, list, sizeof(list));
	if (with_full)
		fprintf(f, "perms=list,read,scan %s full\n", full);
	if (with_list)
		fprintf(f, "# a comment\nperms=list %s listonly\n", list);
	return fclose(f);
}

int ms_agent_setup(void **state)
{
	ms_agent *e = calloc(1, sizeof(*e));

	if (!e || ms_agent_init(e) != 0) {
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

int ms_agent_teardown(void **state)
{
	ms_agent *e = *state;

	ms_agent_stop(e);
	ms_agent_cleanup(e);
	free(e);
	return 0;
}

int ms_agent_init(ms_agent *a)
{
	const char *dir = ms_tmpdir();

	memset(a, 0, sizeof(*a));
	a->out_fd = -1;
	if (!dir)
		return -1;
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	snprintf(a->auth_path, sizeof(a->auth_path), "%s/authorized_keys", a->dir);
	snprintf(a->err_path, sizeof(a->err_path), "%s/agent.err", a->dir);
	if (ms_agent_make_key(a, &a->agent, "agent.key") || ms_agent_make_key(a, &a->full, "full.key") ||
	    ms_agent_make_key(a, &a->listonly, "list.key") ||
	    ms_agent_make_key(a, &a->stranger, "stranger.key"))
		return -1;
	return ms_agent_write_auth(a, 1, 1);
}

/* Reads one line of the agent's stdout (byte by byte, so nothing is buffered past it) within 10 s. */
static int ms_agent_read_line(ms_agent *a, char *line, size_t len)
{
	struct pollfd pfd = { a->out_fd, POLLIN, 0 };
	size_t n = 0;

	while (n + 1 < len) {
		char ch;

		if (poll(&pfd, 1, 10000) <= 0 || read(a->out_fd, &ch, 1) != 1)
			return -1;
		if (ch == '\n')
			break;
		line[n++] = ch;
	}
	line[n] = '\0';
	return 0;
}

int ms_agent_start(ms_agent *a, const char *const *extra)
{
	const char *argv[32] = { MEMSCAN_AGENT_PATH,
		                 "--listen",
		                 "tcp://127.0.0.1:0",
		                 "--key",
		                 a->agent.path,
		                 "--authorized-keys",
		                 a->auth_path,
		                 "--workers",
		                 "4",
		                 "--handshake-timeout",
		                 "1000" };
	char line[512];
	int p[2], n = 11;

	for (; extra && *extra && n < 31; extra++)
		argv[n++] = *extra;
	if (a->out_fd >= 0)
		close(a->out_fd);
	a->out_fd = -1;
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	a->pid = fork();
	if (a->pid == 0) {
		int fd = open(a->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(p[1], 1);
		dup2(fd, 2);
		ms_launch_exec(&ms_launch_agent, MEMSCAN_AGENT_PATH, argv);
		_exit(127);
	}
	close(p[1]);
	a->out_fd = p[0];
	if (a->pid < 0 || ms_agent_read_line(a, line, sizeof(line)) != 0)
		return -1;
	if (sscanf(line, "memscan-agent %*s key %59s", a->fp) != 1)
		return -1;
	if (ms_agent_read_line(a, line, sizeof(line)) != 0 || sscanf(line, "listening %199s", a->url) != 1)
		return -1;
	return 0;
}

int ms_agent_wait(ms_agent *a, int ms)
{
	int status;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(a->pid, &status, WNOHANG) == a->pid) {
			a->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		usleep(10000);
	}
	return -1;
}

int ms_agent_terminate(ms_agent *a, int ms)
{
	if (a->pid <= 0 || kill(a->pid, SIGTERM) != 0)
		return -1;
	return ms_agent_wait(a, ms);
}

void ms_agent_stop(ms_agent *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGKILL);
		waitpid(a->pid, NULL, 0);
		a->pid = 0;
	}
	if (a->out_fd >= 0)
		close(a->out_fd);
	a->out_fd = -1;
}

void ms_agent_cleanup(ms_agent *a)
{
	if (!getenv("MEMSCAN_TEST_KEEP"))
		ms_tmpdir_remove(a->dir);
}

/* The agent's whole stderr so far, NUL-terminated (malloc'd), or NULL. */
static char *ms_agent_read_err(const ms_agent *a)
{
	FILE *f = fopen(a->err_path, "re");
	char *buf = NULL;
	long size;

	if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)))
		buf[fread(buf, 1, (size_t)size, f)] = '\0';
	if (f)
		fclose(f);
	return buf;
}

size_t ms_agent_err_count(const ms_agent *a, const char *needle)
{
	char *buf = ms_agent_read_err(a);
	size_t count = 0, nlen = strlen(needle);

	for (const char *at = buf; at && nlen && (at = strstr(at, needle)); at += nlen)
		count++;
	free(buf);
	return count;
}

int ms_agent_err_has(const ms_agent *a, const char *needle)
{
	return ms_agent_err_count(a, needle) > 0;
}

int ms_agent_wait_err(const ms_agent *a, const char *needle, int ms)
{
	for (int i = 0; i <= ms / 10; i++) {
		if (ms_agent_err_has(a, needle))
			return 1;
		usleep(10000);
	}
	return 0;
}

int ms_agent_finish(ms_agent *a)
{
	int rc = ms_agent_terminate(a, 30000);

	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, a->err_path);
	ms_agent_stop(a);
	if (rc == 0)
		ms_agent_cleanup(a);
	return rc == 0 ? 0 : -1;
}

int ms_agent_trust(const ms_agent *a, const char *config_home)
{
	char pub[4300], hostport[64];
	const char *argv[] = { "trust", hostport, pub, NULL };
	ms_run r;
	int rc;

	setenv("XDG_CONFIG_HOME", config_home, 1);
	snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", ms_agent_port(a));
	snprintf(pub, sizeof(pub), "%s.pub", a->agent.path);
	if (ms_run_cli(&r, argv) != 0)
		return -1;
	rc = r.status == 0 ? 0 : -1;
	ms_run_free(&r);
	return rc;
}

memscan_client *ms_agent_client(const ms_agent *a, const ms_agent_key *key)
{
	memscan_client *c = NULL;

	assert_int_equal(memscan_client_new(&c), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_identity_file(c, key->path), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_set_agent_key(c, a->agent.pub), MEMSCAN_OK);
	ms_assert_call(c, memscan_client_connect(c, a->url), MEMSCAN_OK);
	return c;
}

long long ms_agent_audited_bytes(const ms_agent *a, const char *op, int pid, const char *result)
{
	char needle[96];

	snprintf(needle, sizeof(needle), "op=%s pid=%d ", op, pid);
	for (int i = 0; i < 500; i++) {
		size_t len;
		char *log = (char *)ms_file_read(a->err_path, &len), *line, *end;
		long long bytes = -1;

		for (line = log; line && (line = strstr(line, needle)) != NULL; line = end) {
			end = strchr(line, '\n');
			if (!end)
				break;
			*end++ = '\0';
			if (strstr(line, result) && strstr(line, "bytes="))
				bytes = strtoll(strstr(line, "bytes=") + 6, NULL, 10);
		}
		free(log);
		if (bytes >= 0)
			return bytes;
		usleep(10000);
	}
	return -1;
}

size_t ms_agent_fd_count(const ms_agent *a)
{
	char path[64];
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)a->pid);
	d = opendir(path);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2; /* . and .. */
}

long ms_agent_rss_kib(const ms_agent *a)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)a->pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = strtol(line + 6, NULL, 10);
	fclose(f);
	return kib;
}

int ms_agent_port(const ms_agent *a)
{
	const char *colon = strrchr(a->url, ':');
	char *end;
	long port;

	if (strncmp(a->url, "tcp://", 6) != 0 || !colon)
		return -1;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' && port > 0 && port < 65536 ? (int)port : -1;
}

/* ---- an honest peer ---- */

int ms_peer_send(ms_peer *p, const uint8_t *data, size_t len)
{
	nng_msg *m;

	if (nng_msg_alloc(&m, len) != 0)
		return -1;
	memcpy(nng_msg_body(m), data, len);
	if (nng_sendmsg(p->sock, m, 0) != 0) {
		nng_msg_free(m);
		return -1;
	}
	return 0;
}

/* LeakSanitizer settings for the test processes that use this harness (not for the agent, which
 * is checked in full): nng 1.5.2 leaks a REQ dialer's pipe and its buffers when the far end closes
 * the connection, which these tests make the agent do on purpose, many times. The objects are
 * nng's own, allocated on its threads; nothing of the test's code is in their stacks. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libnng.so\n";
}

/* nng 1.5 reaps closed dialers and pipes on its own threads; objects still queued there when the
 * process exits look leaked to LeakSanitizer. nng_fini at exit (before LSan's own check, which was
 * registered first) drains that queue. */
static void nng_fini_at_exit(void)
{
	nng_fini();
}

static void register_nng_fini_once(void)
{
	atexit(nng_fini_at_exit);
}

static void register_nng_fini(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, register_nng_fini_once);
}

int ms_peer_open(ms_peer *p, const ms_agent *a, int timeo_ms)
{
	memset(p, 0, sizeof(*p));
	register_nng_fini();
	if (nng_req0_open(&p->sock) ||
	    nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, WIRE_CLIENT_RECV_MAX) ||
	    nng_socket_set_ms(p->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) ||
	    nng_socket_set_ms(p->sock, NNG_OPT_RECVTIMEO, timeo_ms) ||
	    nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, timeo_ms) ||
	    nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 60000) || nng_dial(p->sock, a->url, NULL, 0)) {
		print_error("cannot connect to %s\n", a->url);
		return -1;
	}
	return 0;
}

int ms_peer_handshake(ms_peer *p, chan_client_hs *hs, const uint8_t hs1[CHAN_HS1_LEN])
{
	nng_msg *m = NULL;
	int r;

	if (ms_peer_send(p, hs1, CHAN_HS1_LEN) || nng_recvmsg(p->sock, &m, 0))
		return -1;
	r = chan_client_finish(hs, nng_msg_body(m), nng_msg_len(m), &p->s);
	nng_msg_free(m);
	return r;
}

int ms_peer_connect(ms_peer *p, const ms_agent *a, const ms_agent_key *key, int timeo_ms)
{
	uint8_t hs1[CHAN_HS1_LEN];
	chan_client_hs *hs = NULL;
	int r = -1;

	if (ms_peer_open(p, a, timeo_ms) == 0 && chan_client_start(key->priv, a->agent.pub, hs1, &hs) == 0)
		r = ms_peer_handshake(p, hs, hs1);
	chan_client_hs_free(hs);
	return r;
}

void ms_peer_close(ms_peer *p)
{
	nng_close(p->sock);
	chan_session_free(p->s);
	p->s = NULL;
}

Memscan__V1__Response *ms_peer_call_pt(ms_peer *p, const uint8_t *pt, size_t len)
{
	uint8_t *frame = malloc(len + CHAN_DATA_OVERHEAD), *out = NULL;
	Memscan__V1__Response *resp = NULL;
	size_t flen, olen;
	nng_msg *m = NULL;

	if (!frame || chan_seal(p->s, pt, len, frame, len + CHAN_DATA_OVERHEAD, &flen) ||
	    ms_peer_send(p, frame, flen) || nng_recvmsg(p->sock, &m, 0))
		goto out;
	out = malloc(nng_msg_len(m) + 1);
	if (out && chan_open(p->s, nng_msg_body(m), nng_msg_len(m), out, nng_msg_len(m), &olen) == 0)
		resp = wire_unpack_response(out, olen, WIRE_UNPACK_BUDGET_CLIENT);
out:
	nng_msg_free(m);
	free(frame);
	free(out);
	return resp;
}

Memscan__V1__Response *ms_peer_call(ms_peer *p, const Memscan__V1__Request *req)
{
	size_t len;
	uint8_t *pt = wire_pack(&req->base, &len);
	Memscan__V1__Response *resp = pt ? ms_peer_call_pt(p, pt, len) : NULL;

	free(pt);
	return resp;
}

Memscan__V1__Response *ms_peer_hello(ms_peer *p)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Hello hello = MEMSCAN__V1__HELLO__INIT;

	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HELLO;
	req.hello = &hello;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_next(ms_peer *p, uint64_t cursor)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Next next = MEMSCAN__V1__NEXT__INIT;

	next.cursor = cursor;
	req.op_case = MEMSCAN__V1__REQUEST__OP_NEXT;
	req.next = &next;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_list_regions(ms_peer *p, int pid, uint64_t start_time)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListRegions lr = MEMSCAN__V1__LIST_REGIONS__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	t.start_time = start_time;
	f.use_default = 1;
	lr.target = &t;
	lr.filter = &f;
	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_REGIONS;
	req.list_regions = &lr;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_snapshot(ms_peer *p, int pid, uint64_t start, uint64_t end)
{
	return ms_peer_snapshot_progress(p, pid, start, end, 0);
}

Memscan__V1__Response *ms_peer_snapshot_progress(ms_peer *p, int pid, uint64_t start, uint64_t end,
                                                 uint32_t progress_ms)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Snapshot sn = MEMSCAN__V1__SNAPSHOT__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	fl.use_default = 1;
	fl.range_start = start;
	fl.range_end = end;
	sn.target = &t;
	sn.filter = &fl;
	sn.progress_ms = progress_ms;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SNAPSHOT;
	req.snapshot = &sn;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_heat_start(ms_peer *p, int pid)
{
	return ms_peer_heat_start_progress(p, pid, 0, 0, 0);
}

Memscan__V1__Response *ms_peer_heat_start_progress(ms_peer *p, int pid, uint64_t start, uint64_t end,
                                                   uint32_t progress_ms)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatStart hs = MEMSCAN__V1__HEAT_START__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter fl = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	fl.use_default = 1;
	fl.range_start = start;
	fl.range_end = end;
	hs.progress_ms = progress_ms;
	hs.target = &t;
	hs.filter = &fl;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_START;
	req.heat_start = &hs;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_pointer_scan(ms_peer *p, int pid, uint64_t addr, unsigned depth,
                                            uint64_t max_offset, uint32_t progress_ms)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__PointerScan ps = MEMSCAN__V1__POINTER_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;

	t.pid = pid;
	ps.target = &t;
	ps.address = addr;
	ps.depth = depth;
	ps.max_offset = max_offset;
	ps.max_chains = 100000;
	ps.progress_ms = progress_ms;
	req.op_case = MEMSCAN__V1__REQUEST__OP_POINTER_SCAN;
	req.pointer_scan = &ps;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_follow_progress(ms_peer *p, Memscan__V1__Response *resp, size_t *ret_count,
                                               uint64_t *ret_total)
{
	uint64_t last = 0, total = 0;
	size_t n = 0;

	while (resp && resp->result_case == MEMSCAN__V1__RESPONSE__RESULT_PROGRESS) {
		const Memscan__V1__Progress *pr = resp->progress;
		uint64_t cursor;

		assert_non_null(pr);
		assert_int_not_equal(pr->next_cursor, 0);
		assert_true(pr->done >= last);
		assert_true(pr->done <= pr->total);
		if (n)
			assert_int_equal(pr->total, total);
		last = pr->done;
		total = pr->total;
		cursor = pr->next_cursor;
		n++;
		wire_free_response(resp);
		resp = ms_peer_next(p, cursor);
	}
	*ret_count = n;
	*ret_total = total;
	return resp;
}

Memscan__V1__Response *ms_peer_heat_sample(ms_peer *p, uint64_t heat_id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__HeatSample hs = MEMSCAN__V1__HEAT_SAMPLE__INIT;

	hs.heat_id = heat_id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_HEAT_SAMPLE;
	req.heat_sample = &hs;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_read(ms_peer *p, int pid, uint64_t start_time, uint64_t addr, uint64_t len,
                                    uint64_t snapshot_id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Read rd = MEMSCAN__V1__READ__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;

	t.pid = pid;
	t.start_time = start_time;
	rd.target = &t;
	rd.address = addr;
	rd.length = len;
	rd.snapshot_id = snapshot_id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_READ;
	req.read = &rd;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_scan(ms_peer *p, int pid, const char *pattern)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Scan sc = MEMSCAN__V1__SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__Filter f = MEMSCAN__V1__FILTER__INIT;

	t.pid = pid;
	f.use_default = 1;
	sc.target = &t;
	sc.filter = &f;
	sc.pattern = (char *)pattern;
	req.op_case = MEMSCAN__V1__REQUEST__OP_SCAN;
	req.scan = &sc;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_diff(ms_peer *p, uint64_t snapshot_id, int update, int refilter)
{
	return ms_peer_diff_progress(p, snapshot_id, update, refilter, 0);
}

Memscan__V1__Response *ms_peer_diff_progress(ms_peer *p, uint64_t snapshot_id, int update, int refilter,
                                             uint32_t progress_ms)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Diff d = MEMSCAN__V1__DIFF__INIT;

	d.snapshot_id = snapshot_id;
	d.update = update;
	d.refilter = refilter;
	d.progress_ms = progress_ms;
	req.op_case = MEMSCAN__V1__REQUEST__OP_DIFF;
	req.diff = &d;
	return ms_peer_call(p, &req);
}

Memscan__V1__Response *ms_peer_release(ms_peer *p, uint64_t snapshot_id)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__Release rel = MEMSCAN__V1__RELEASE__INIT;

	rel.snapshot_id = snapshot_id;
	req.op_case = MEMSCAN__V1__REQUEST__OP_RELEASE;
	req.release = &rel;
	return ms_peer_call(p, &req);
}

int ms_agent_serving(const ms_agent *a, int pid)
{
	Memscan__V1__Response *hello = NULL, *regions = NULL;
	int ok = 0;
	ms_peer p;

	if (ms_peer_connect(&p, a, &a->full, 3000) == 0) {
		hello = ms_peer_hello(&p);
		regions = hello ? ms_peer_list_regions(&p, pid, 0) : NULL;
		ok = hello && hello->result_case == MEMSCAN__V1__RESPONSE__RESULT_HELLO && regions &&
		     regions->result_case == MEMSCAN__V1__RESPONSE__RESULT_REGIONS &&
		     regions->regions->n_regions > 0;
	}
	if (!ok) {
		char *log = ms_agent_read_err(a);
		size_t len = log ? strlen(log) : 0;

		print_error("the agent no longer serves an honest client; its log ends with:\n%s\n",
		            log ? log + (len > 1500 ? len - 1500 : 0) : "(none)");
		free(log);
	}
	wire_free_response(hello);
	wire_free_response(regions);
	ms_peer_close(&p);
	return ok ? 0 : -1;
}

void ms_peer_expect_error(Memscan__V1__Response *resp, int code)
{
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	if ((int)resp->error->code != code)
		print_error("unexpected error %d: %s\n", resp->error->code, resp->error->message);
	assert_int_equal(resp->error->code, code);
	assert_true(resp->error->message && resp->error->message[0]);
	wire_free_response(resp);
}

/* ---- a raw peer ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

int ms_peer_tcp_dial(ms_tcp_peer *t, const ms_agent *a, int timeo_ms)
{
	struct timeval tv = { timeo_ms / 1000, (timeo_ms % 1000) * 1000 };
	struct sockaddr_in sa;
	int port = ms_agent_port(a), one = 1;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	t->req_id = 1;
	if (port < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		ms_peer_tcp_close(t);
		return -1;
	}
	return 0;
}

int ms_peer_tcp_write(ms_tcp_peer *t, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = send(t->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly LEN bytes: 1, 0 on EOF or reset before the first byte, -1 on timeout or mid-way EOF. */
static int ms_peer_tcp_read(ms_tcp_peer *t, uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = recv(t->fd, buf + got, len - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
			return got == 0 ? 0 : -1;
		if (n < 0)
			return -1;
		got += (size_t)n;
	}
	return 1;
}

int ms_peer_tcp_sp_header(ms_tcp_peer *t, uint16_t proto)
{
	uint8_t mine[8] = { 0, 'S', 'P', 0, (uint8_t)(proto >> 8), (uint8_t)proto, 0, 0 };
	static const uint8_t want[8] = { 0, 'S', 'P', 0, 0, MS_SP_PROTO_REP0, 0, 0 };
	uint8_t theirs[8];

	if (ms_peer_tcp_write(t, mine, sizeof(mine)) != 0 || ms_peer_tcp_read(t, theirs, 8) != 1)
		return -1;
	return memcmp(theirs, want, sizeof(want)) == 0 ? 0 : -1;
}

int ms_peer_tcp_open(ms_tcp_peer *t, const ms_agent *a, int timeo_ms)
{
	if (ms_peer_tcp_dial(t, a, timeo_ms) != 0)
		return -1;
	if (ms_peer_tcp_sp_header(t, MS_SP_PROTO_REQ0) != 0) {
		ms_peer_tcp_close(t);
		return -1;
	}
	return 0;
}

int ms_peer_tcp_send(ms_tcp_peer *t, const uint8_t *frame, size_t len)
{
	uint8_t *msg = malloc(12 + len);
	uint32_t id = 0x80000000u | t->req_id++;
	int r;

	if (!msg)
		return -1;
	put_be64(msg, 4 + (uint64_t)len);
	for (int i = 0; i < 4; i++)
		msg[8 + i] = (uint8_t)(id >> (24 - 8 * i));
	if (len)
		memcpy(msg + 12, frame, len);
	r = ms_peer_tcp_write(t, msg, 12 + len);
	free(msg);
	return r;
}

int ms_peer_tcp_recv(ms_tcp_peer *t, uint8_t **ret, size_t *ret_len)
{
	uint8_t head[12], *body;
	uint64_t len;
	int r = ms_peer_tcp_read(t, head, 8);

	*ret = NULL;
	*ret_len = 0;
	if (r != 1)
		return r;
	len = get_be64(head);
	if (len < 4 || len > WIRE_CLIENT_RECV_MAX + 4 || ms_peer_tcp_read(t, head + 8, 4) != 1 ||
	    !(head[8] & 0x80))
		return -1;
	body = malloc(len - 4 + 1);
	if (!body)
		return -1;
	if (len > 4 && ms_peer_tcp_read(t, body, len - 4) != 1) {
		free(body);
		return -1;
	}
	*ret = body;
	*ret_len = len - 4;
	return 1;
}

int ms_peer_tcp_closed(ms_tcp_peer *t)
{
	uint8_t byte;

	return ms_peer_tcp_read(t, &byte, 1) == 0;
}

void ms_peer_tcp_reset_on_close(ms_tcp_peer *t)
{
	struct linger lg = { 1, 0 };

	setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void ms_peer_tcp_close(ms_tcp_peer *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	sodium_memzero(t->k1, sizeof(t->k1));
	sodium_memzero(t->k2, sizeof(t->k2));
}

int ms_peer_make_hs1(const uint8_t priv[NOISE_KEY_LEN], const uint8_t agent_pub[NOISE_KEY_LEN],
                     const uint8_t *fake_s_pub, uint8_t out[CHAN_HS1_LEN], noise_hs **ret)
{
	uint8_t tai[CHAN_TAI64N_LEN];
	noise_hs *hs =
	    noise_hs_new(1, (const uint8_t *)CHAN_PROLOGUE, strlen(CHAN_PROLOGUE), priv, agent_pub);
	size_t len;

	*ret = NULL;
	if (!hs)
		return -1;
	if (fake_s_pub)
		memcpy(hs->s_pub, fake_s_pub, NOISE_KEY_LEN);
	out[0] = CHAN_VERSION;
	out[1] = CHAN_TYPE_HS1;
	out[2] = out[3] = 0;
	chan_tai64n_now(tai);
	if (noise_write_msg1(hs, NULL, tai, sizeof(tai), out + CHAN_HEADER_LEN,
	                     CHAN_HS1_LEN - CHAN_HEADER_LEN, &len) != 0 ||
	    len != CHAN_HS1_LEN - CHAN_HEADER_LEN) {
		noise_hs_free(hs);
		return -1;
	}
	*ret = hs;
	return 0;
}

int ms_peer_tcp_finish(ms_tcp_peer *t, noise_hs *hs, const uint8_t *frame, size_t len)
{
	uint8_t payload[CHAN_HS2_PAYLOAD_LEN];
	size_t plen;

	if (len != CHAN_HS2_LEN || chan_frame_type(frame, len) != CHAN_TYPE_HS2 ||
	    noise_read_msg2(hs, frame + CHAN_HEADER_LEN, len - CHAN_HEADER_LEN, payload, sizeof(payload),
	                    &plen) != 0 ||
	    plen != CHAN_HS2_PAYLOAD_LEN || noise_split(hs, t->k1, t->k2) != 0)
		return -1;
	memcpy(t->hs2, frame, CHAN_HS2_LEN);
	t->sid = get_le64(payload);
	t->perms = (uint32_t)payload[8] | (uint32_t)payload[9] << 8 | (uint32_t)payload[10] << 16 |
	           (uint32_t)payload[11] << 24;
	t->n = 0;
	return 0;
}

int ms_peer_tcp_handshake(ms_tcp_peer *t, const ms_agent *a, const ms_agent_key *key)
{
	noise_hs *hs = NULL;
	uint8_t *reply = NULL;
	size_t len = 0;
	int r = -1;

	if (ms_peer_make_hs1(key->priv, a->agent.pub, NULL, t->hs1, &hs) == 0 &&
	    ms_peer_tcp_send(t, t->hs1, CHAN_HS1_LEN) == 0 && ms_peer_tcp_recv(t, &reply, &len) == 1)
		r = ms_peer_tcp_finish(t, hs, reply, len);
	free(reply);
	noise_hs_free(hs);
	return r;
}

void ms_peer_seal_raw(const uint8_t k[NOISE_KEY_LEN], uint64_t sid, uint64_t n, const uint8_t *pt, size_t len,
                      uint8_t *out)
{
	out[0] = CHAN_VERSION;
	out[1] = CHAN_TYPE_DATA;
	out[2] = out[3] = 0;
	put_le64(out + CHAN_HEADER_LEN, sid);
	put_le64(out + CHAN_HEADER_LEN + 8, n);
	noise_encrypt(k, n, out, CHAN_DATA_AD_LEN, pt, len, out + CHAN_DATA_AD_LEN);
}

Memscan__V1__Response *ms_peer_tcp_open_reply(ms_tcp_peer *t, uint64_t n, const uint8_t *frame, size_t len)
{
	Memscan__V1__Response *resp = NULL;
	uint8_t *pt;

	if (len < CHAN_DATA_OVERHEAD || chan_frame_type(frame, len) != CHAN_TYPE_DATA ||
	    get_le64(frame + CHAN_HEADER_LEN) != t->sid || get_le64(frame + CHAN_HEADER_LEN + 8) != n)
		return NULL;
	pt = malloc(len - CHAN_DATA_OVERHEAD + 1);
	if (pt && noise_decrypt(t->k2, n, frame, CHAN_DATA_AD_LEN, frame + CHAN_DATA_AD_LEN,
	                        len - CHAN_DATA_AD_LEN, pt) == 0)
		resp = wire_unpack_response(pt, len - CHAN_DATA_OVERHEAD, WIRE_UNPACK_BUDGET_CLIENT);
	free(pt);
	return resp;
}

Memscan__V1__Response *ms_peer_tcp_call_pt(ms_tcp_peer *t, const uint8_t *pt, size_t len)
{
	uint8_t *frame = malloc(len + CHAN_DATA_OVERHEAD), *reply = NULL;
	Memscan__V1__Response *resp = NULL;
	uint64_t n = t->n++;
	size_t rlen;

	if (!frame)
		return NULL;
	ms_peer_seal_raw(t->k1, t->sid, n, pt, len, frame);
	if (ms_peer_tcp_send(t, frame, len + CHAN_DATA_OVERHEAD) == 0 &&
	    ms_peer_tcp_recv(t, &reply, &rlen) == 1)
		resp = ms_peer_tcp_open_reply(t, n, reply, rlen);
	free(reply);
	free(frame);
	return resp;
}

int ms_agent_run_suite(const char *name, ms_agent *a, ms_fixture *fx, const char *const *args,
                       const struct CMUnitTest *tests, size_t count)
{
	return ms_agent_run_suite_fx(name, a, fx, NULL, args, tests, count);
}

int ms_agent_run_suite_fx(const char *name, ms_agent *a, ms_fixture *fx, const char *const *fixture_args,
                          const char *const *args, const struct CMUnitTest *tests, size_t count)
{
	int rc, fails;

	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0 || ms_fixture_start(fx, fixture_args) != 0 || ms_agent_init(a) != 0 ||
	    ms_agent_start(a, args) != 0) {
		print_error("cannot start the fixture or the agent\n");
		return 1;
	}
	if (getenv("MEMSCAN_TEST_FILTER"))
		cmocka_set_test_filter(getenv("MEMSCAN_TEST_FILTER"));
	fails = _cmocka_run_group_tests(name, tests, count, NULL, NULL);
	rc = ms_agent_terminate(a, 30000);
	if (rc != 0)
		print_error("agent exit code %d after SIGTERM (see %s)\n", rc, a->err_path);
	ms_agent_stop(a);
	ms_fixture_stop(fx);
	if (rc == 0 && fails == 0)
		ms_agent_cleanup(a);
	return fails || rc != 0;
}
