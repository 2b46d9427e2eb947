/* SPDX-License-Identifier: MIT */
/* The agent's limits on targets: never itself or any of its threads, no thread IDs, and a key's uids=
 * and exe= checked again at every operation (a setuid exec keeps the PID and the start time). */
#include "agentutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static ms_agent env;

/* Writes authorized_keys TEXT (NULL: the usual full and listonly keys), sends SIGHUP and waits until
 * the agent logged the reload. */
static void reload_auth(const char *text)
{
	size_t before = ms_agent_err_count(&env, "reload: ");

	assert_int_equal(text ? ms_agent_write_auth_text(&env, text) : ms_agent_write_auth(&env, 1, 1), 0);
	kill(env.pid, SIGHUP);
	for (int i = 0; i < 500 && ms_agent_err_count(&env, "reload: ") == before; i++)
		usleep(10000);
	assert_true(ms_agent_err_has(&env, "authorized keys from"));
	assert_int_equal(ms_agent_err_count(&env, "reload: "), before + 1);
}

static int group_setup(void **state)
{
	(void)state;
	return ms_agent_init(&env) == 0 && ms_agent_start(&env, NULL) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	ms_agent_cleanup(&env);
	return 0;
}

/* The thread IDs of process PID (its /proc/PID/task), at most MAX. */
static size_t thread_ids(pid_t pid, int *ids, size_t max)
{
	char path[64];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) && n < max)
		if (de->d_name[0] != '.')
			ids[n++] = (int)strtol(de->d_name, NULL, 10);
	closedir(d);
	return n;
}

/* Every operation that names a process, on ID: each must fail with CODE. */
static void every_op_fails(ms_peer *c, int id, int code)
{
	ms_peer_expect_error(ms_peer_list_regions(c, id, 0), code);
	ms_peer_expect_error(ms_peer_read(c, id, 0, 0x400000, 16, 0), code);
	ms_peer_expect_error(ms_peer_scan(c, id, "6D 65 6D 73 63 61 6E"), code);
	ms_peer_expect_error(ms_peer_snapshot(c, id, 0, UINT64_MAX), code);
	ms_peer_expect_error(ms_peer_heat_start(c, id), code);
}

/* The agent's memory holds its private key, session keys and other clients' plaintext: none of its
 * thread IDs may be read, whichever operation asks. */
static void test_agent_never_serves_its_threads(void **state)
{
	int ids[256];
	size_t n = thread_ids(env.pid, ids, 256);
	ms_peer c;

	(void)state;
	assert_true(n > 4); /* the main thread, workers, nng's threads */
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	for (size_t i = 0; i < n; i++)
		every_op_fails(&c, ids[i], MEMSCAN_ERR_DENIED);
	ms_peer_close(&c);
	assert_true(ms_agent_err_count(&env, "result=DENIED") >= 4 * n);
}

/* Another process's thread IDs are not processes: refused, the process itself served. */
static void test_thread_ids_are_not_processes(void **state)
{
	const char *args[] = { "--tick-ms", "1000", NULL };
	int ids[16], other = 0;
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, args), 0);
	for (size_t i = 0, n = thread_ids(f.pid, ids, 16); i < n; i++)
		if (ids[i] != f.pid)
			other = ids[i];
	assert_int_not_equal(other, 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	every_op_fails(&c, other, MEMSCAN_ERR_NO_PROCESS);
	wire_free_response(ms_peer_list_regions(&c, f.pid, 0));
	ms_peer_expect_error(ms_peer_next(&c, 1), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_close(&c);
	ms_fixture_stop(&f);
}

/* A process that starts as uid 1000 running /bin/sh and, told to, execs a setuid-root copy of the
 * fixture: the same PID and start time, other credentials and another executable. */
typedef struct suid_target {
	char dir[4096], exe[4200], plain[4200]; /* the set-user-ID copy and a plain one */
	pid_t pid;
	int to, from;
} suid_target;

static int suid_install(suid_target *t)
{
	size_t len = 0;
	uint8_t *data = ms_file_read(MEMSCAN_FIXTURE_PATH, &len);
	const char *dir = ms_tmpdir();
	int fd, rc = -1;

	if (!data || !dir)
		goto out;
	snprintf(t->dir, sizeof(t->dir), "%s", dir);
	snprintf(t->exe, sizeof(t->exe), "%s/fixture-suid", t->dir);
	snprintf(t->plain, sizeof(t->plain), "%s/fixture", t->dir);
	fd = open(t->plain, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
		goto out;
	fd = open(t->exe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	if (fd < 0)
		goto out;
	rc = write(fd, data, len) == (ssize_t)len ? 0 : -1;
	/* set-user-ID root: whoever runs it gets euid 0 */
	if (close(fd) != 0 || chown(t->exe, 0, 0) != 0 || chmod(t->exe, 04755) != 0 ||
	    chmod(t->dir, 0755) != 0)
		rc = -1;
out:
	free(data);
	return rc;
}

static int suid_start(suid_target *t)
{
	int in[2], out[2];
	char line[16];

	if (suid_install(t) != 0 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return -1;
	t->pid = fork();
	if (t->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		execl("/usr/bin/setpriv", "setpriv", "--reuid=1000", "--regid=1000", "--clear-groups",
		      "/bin/sh", "-c", "echo started; read go; exec \"$0\"", t->exe, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	t->to = in[1];
	t->from = out[0];
	/* "started\n": sh runs as uid 1000 */
	return t->pid > 0 && read(t->from, line, 8) == 8 && !memcmp(line, "started\n", 8) ? 0 : -1;
}

/* Tells sh to exec the setuid program and waits for its ready line. */
static int suid_exec(suid_target *t)
{
	struct pollfd pfd = { t->from, POLLIN, 0 };
	char buf[1024];

	if (write(t->to, "go\n", 3) != 3 || poll(&pfd, 1, 10000) != 1 || read(t->from, buf, sizeof(buf)) <= 0)
		return -1;
	return strncmp(buf, "ready ", 6) == 0 ? 0 : -1;
}

static void suid_stop(suid_target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	close(t->to);
	close(t->from);
	ms_tmpdir_remove(t->dir);
}

/* The effective uid of PID, from /proc/PID/status. */
static long euid_of(pid_t pid)
{
	char path[64], *text, *line;
	size_t len;
	long euid = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = (char *)ms_file_read(path, &len);
	if (text && (line = strstr(text, "\nUid:")) != NULL)
		sscanf(line + 5, "%*d %ld", &euid);
	free(text);
	return euid;
}

/* The id of a snapshot reply (its first page), freeing it. */
static uint64_t snapshot_id(Memscan__V1__Response *resp)
{
	uint64_t id;

	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_SNAPSHOT);
	id = resp->snapshot->snapshot_id;
	wire_free_response(resp);
	return id;
}

/* The first mapped address of PID whose region is at least 8 KiB below an unmapped gap: a read of
 * 8 MiB from there takes two pages (the second one unreadable, so a whole hole). */
static uint64_t first_region(pid_t pid)
{
	char path[64], *text;
	unsigned long long start = 0;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	text = (char *)ms_file_read(path, &len);
	assert_non_null(text);
	assert_int_equal(sscanf(text, "%llx-", &start), 1);
	free(text);
	return start;
}

/* Asserts RESP is an Error with CODE whose message holds NEEDLE, and frees it. */
static void expect_error_msg(Memscan__V1__Response *resp, int code, const char *needle)
{
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_ERROR);
	if (!strstr(resp->error->message, needle))
		fail_msg("error '%s' does not say '%s'", resp->error->message, needle);
	ms_peer_expect_error(resp, code);
}

/* A key limited to LIMIT ("uids=1000-1999" or an exe= list) reads the uid-1000 shell, then loses every
 * kept and paged result once the process runs the setuid program. */
static void limits_follow_exec(const char *limit, const char *why)
{
	char full[128], auth[512];
	suid_target t = { .to = -1, .from = -1 };
	uint64_t snap_a, snap_b, cursor, heat;
	Memscan__V1__Response *resp;
	ms_peer c;

	keyfile_format_public(env.full.pub, full, sizeof(full));
	snprintf(auth, sizeof(auth), "perms=list,read,scan %s %s limited\n", limit, full);
	reload_auth(auth);
	assert_int_equal(suid_start(&t), 0);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	/* allowed while the shell runs as uid 1000 */
	snap_a = snapshot_id(ms_peer_snapshot(&c, t.pid, 0, UINT64_MAX));
	snap_b = snapshot_id(ms_peer_snapshot(&c, t.pid, 0, UINT64_MAX));
	resp = ms_peer_heat_start(&c, t.pid);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HEAT);
	heat = resp->heat->heat_id;
	wire_free_response(resp);
	resp = ms_peer_heat_sample(&c, heat);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_HEAT_SAMPLE);
	wire_free_response(resp);
	resp = ms_peer_read(&c, t.pid, 0, first_region(t.pid), 8u << 20, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_READ);
	cursor = resp->read->next_cursor;
	assert_int_not_equal(cursor, 0);
	wire_free_response(resp);

	assert_int_equal(suid_exec(&t), 0);
	if (euid_of(t.pid) != 0) {
		print_message("setuid exec did not raise the euid (nosuid mount or no_new_privs): not run\n");
		ms_peer_close(&c);
		suid_stop(&t);
		skip();
	}
	/* the paged read stops at its next page */
	ms_peer_expect_error(ms_peer_next(&c, cursor), MEMSCAN_ERR_DENIED);
	/* a diff and a read of a kept snapshot are refused, and the snapshot is gone with its bytes */
	expect_error_msg(ms_peer_diff(&c, snap_a, 1, 0), MEMSCAN_ERR_DENIED, why);
	ms_peer_expect_error(ms_peer_release(&c, snap_a), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_expect_error(ms_peer_read(&c, t.pid, 0, first_region(t.pid), 16, snap_b), MEMSCAN_ERR_DENIED);
	ms_peer_expect_error(ms_peer_release(&c, snap_b), MEMSCAN_ERR_NOT_FOUND);
	/* a heat's next sample is refused and the heat released: no count of the setuid program */
	expect_error_msg(ms_peer_heat_sample(&c, heat), MEMSCAN_ERR_DENIED, "released)");
	ms_peer_expect_error(ms_peer_heat_sample(&c, heat), MEMSCAN_ERR_NOT_FOUND);
	/* and a fresh request, of course */
	every_op_fails(&c, t.pid, MEMSCAN_ERR_DENIED);
	ms_peer_close(&c);
	suid_stop(&t);
	reload_auth(NULL);
}

/* A diff with update that the client abandons after its first page is finished by the agent (the
 * baseline must be one whole read), which reads the process once more: if it changed credentials
 * meanwhile, the snapshot is released, not kept with bytes read from the setuid program. */
static void test_abandoned_update_diff_rechecked(void **state)
{
	static const char *const as_target[] = { "/usr/bin/setpriv", "--reuid=1000", "--regid=1000",
		                                 "--clear-groups", NULL };
	const char *args[] = { "--pages", "4096", NULL }; /* 16 MiB: its diff takes several pages */
	char full[128], auth[512], line[1024], range[64];
	suid_target t = { .to = -1, .from = -1 };
	ms_launch saved = ms_launch_fixture;
	Memscan__V1__Response *resp;
	uint64_t snap;
	ms_fixture f;
	ms_peer c;

	(void)state;
	assert_int_equal(suid_install(&t), 0);
	keyfile_format_public(env.full.pub, full, sizeof(full));
	snprintf(auth, sizeof(auth), "perms=list,read,scan uids=1000-1999 %s limited\n", full);
	reload_auth(auth);
	ms_launch_fixture = (ms_launch){ t.plain, as_target };
	assert_int_equal(ms_fixture_start(&f, args), 0);
	ms_launch_fixture = saved;
	assert_int_equal(euid_of(f.pid), 1000);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	snap = snapshot_id(ms_peer_snapshot(&c, f.pid, f.arena, f.arena + f.arena_len));
	snprintf(range, sizeof(range), "%llx", (unsigned long long)f.arena_len);
	assert_int_equal(ms_fixture_cmd(&f, "scramble %s %s 5", ms_hex(f.arena), range), 0);
	resp = ms_peer_diff(&c, snap, 1, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_DIFF);
	assert_int_not_equal(resp->diff->next_cursor, 0); /* more pages follow: the diff is pending */
	wire_free_response(resp);
	/* the process runs the set-user-ID program: euid 0 */
	fprintf(f.to, "exec %s\n", t.exe);
	fflush(f.to);
	assert_non_null(fgets(line, sizeof(line), f.from));
	assert_int_equal(strncmp(line, "ready ", 6), 0);
	if (euid_of(f.pid) != 0) {
		print_message("setuid exec did not raise the euid (nosuid mount or no_new_privs): not run\n");
		ms_peer_close(&c);
		ms_fixture_stop(&f);
		suid_stop(&t);
		skip();
	}
	/* any other request drops the pending diff, which the agent finishes: then checks, and releases */
	resp = ms_peer_hello(&c);
	assert_non_null(resp);
	wire_free_response(resp);
	ms_peer_expect_error(ms_peer_read(&c, f.pid, 0, f.arena, 16, snap), MEMSCAN_ERR_NOT_FOUND);
	ms_peer_expect_error(ms_peer_release(&c, snap), MEMSCAN_ERR_NOT_FOUND);
	assert_true(ms_agent_err_has(&env, "released after finishing its diff"));
	ms_peer_close(&c);
	ms_fixture_stop(&f);
	suid_stop(&t);
	reload_auth(NULL);
}

static void test_uids_checked_at_every_operation(void **state)
{
	(void)state;
	limits_follow_exec("uids=1000-1999", "outside this key's uids=1000-1999");
}

/* exe=: the shell's executable is allowed, the fixture's is not. */
static void test_exe_checked_at_every_operation(void **state)
{
	(void)state;
	limits_follow_exec("exe=/usr/bin/*,/bin/*", "outside this key's exe=/usr/bin/*,/bin/*");
}

/* Whether PID is among the processes C's key is shown (all pages of ListProcesses). */
static int listed(ms_peer *c, int pid)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__ListProcesses lp = MEMSCAN__V1__LIST_PROCESSES__INIT;
	Memscan__V1__Response *resp;
	int found = 0;

	req.op_case = MEMSCAN__V1__REQUEST__OP_LIST_PROCESSES;
	req.list_processes = &lp;
	resp = ms_peer_call(c, &req);
	while (resp) {
		uint64_t next;

		assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_PROCESSES);
		for (size_t i = 0; i < resp->processes->n_processes; i++)
			found |= resp->processes->processes[i]->pid == pid;
		next = resp->processes->next_cursor;
		wire_free_response(resp);
		resp = next ? ms_peer_next(c, next) : NULL;
	}
	return found;
}

/* exe= against a process that never changes: only the patterns decide, listings included. */
static void test_exe_limit(void **state)
{
	char full[128], auth[1400], dir[4096];
	Memscan__V1__Response *resp;
	ms_fixture f;
	ms_peer c;
	const char *slash;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	slash = strrchr(MEMSCAN_FIXTURE_PATH, '/');
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - MEMSCAN_FIXTURE_PATH), MEMSCAN_FIXTURE_PATH);
	keyfile_format_public(env.full.pub, full, sizeof(full));
	/* '*' does not cross a '/': the fixture's directory's parent does not match */
	snprintf(auth, sizeof(auth), "perms=list exe=/nonexistent/*,%.400s/* %s limited\n", dir, full);
	reload_auth(auth);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	resp = ms_peer_list_regions(&c, f.pid, 0);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, MEMSCAN__V1__RESPONSE__RESULT_REGIONS);
	wire_free_response(resp);
	/* the process list shows what the key may touch: the fixture, not the agent */
	assert_true(listed(&c, f.pid));
	assert_false(listed(&c, env.pid));
	ms_peer_close(&c);
	snprintf(auth, sizeof(auth), "perms=list exe=/nonexistent/*,%.400s %s limited\n", dir, full);
	reload_auth(auth);
	assert_int_equal(ms_peer_connect(&c, &env, &env.full, 5000), 0);
	ms_peer_expect_error(ms_peer_list_regions(&c, f.pid, 0), MEMSCAN_ERR_DENIED);
	ms_peer_close(&c);
	reload_auth(NULL);
	ms_fixture_stop(&f);
}

/* More listen addresses than AGENT_LISTEN_MAX (256) are a mistake, not a host's needs: the agent
 * refuses the config at the first one past it instead of growing the list without end. */
static void test_listen_addresses_bounded(void **state)
{
	ms_agent *a = *state;
	char conf[4300];
	const char *extra[] = { "--config", conf, NULL };
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/agent.conf", a->dir);
	f = fopen(conf, "w");
	assert_non_null(f);
	for (int i = 0; i <= 256; i++)
		fprintf(f, "listen = ipc://%s/l%d\n", a->dir, i);
	fclose(f);
	assert_int_not_equal(ms_agent_start(a, extra), 0);
	assert_int_equal(ms_agent_wait(a, 10000), 2);
	if (!ms_agent_err_has(a, "agent.conf:257: bad value 'ipc://"))
		fail_msg("the 257th listen address was not refused");
}

/* The help says what scan really grants, and promises no "addresses only". */
static void test_help_says_scan_discloses(void **state)
{
	char out[8192];
	size_t n;
	FILE *p = popen("'" MEMSCAN_AGENT_PATH "' --help", "r");

	(void)state;
	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(out, "scan discloses memory contents just as"));
	assert_null(strstr(out, "addresses only"));
	assert_non_null(strstr(out, "exe=PATTERN"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_never_serves_its_threads),
		cmocka_unit_test(test_thread_ids_are_not_processes),
		cmocka_unit_test(test_uids_checked_at_every_operation),
		cmocka_unit_test(test_exe_checked_at_every_operation),
		cmocka_unit_test(test_abandoned_update_diff_rechecked),
		cmocka_unit_test(test_exe_limit),
		cmocka_unit_test(test_help_says_scan_discloses),
		cmocka_unit_test_setup_teardown(test_listen_addresses_bounded, ms_agent_setup,
		                                ms_agent_teardown),
	};

	return cmocka_run_group_tests_name("agent_limits", tests, group_setup, group_teardown);
}
