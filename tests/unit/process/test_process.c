/* SPDX-License-Identifier: MIT */
/* Unit tests of process handles: bad PIDs, start time, liveness, the process list. */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "testutil.h"

static void test_process_open_rejects_bad_pids(void **state)
{
	memscan_process *p = (memscan_process *)1;

	(void)state;
	assert_int_equal(memscan_process_open(0, &p), MEMSCAN_ERR_INVALID_ARG);
	assert_null(p);
	assert_int_equal(memscan_process_open(-1, &p), MEMSCAN_ERR_INVALID_ARG);
	assert_int_equal(memscan_process_open(ms_reaped_pid(), &p), MEMSCAN_ERR_NO_PROCESS);
	assert_null(p);
	assert_int_equal(memscan_process_open(1, NULL), MEMSCAN_ERR_INVALID_ARG);
}

static void test_process_open_fixture_and_detect_exit(void **state)
{
	memscan_process *p;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(memscan_process_pid(p), f.pid);
	assert_true(memscan_process_start_time(p) > 0);
	assert_int_equal(memscan_process_check_alive(p), MEMSCAN_OK);
	ms_fixture_stop(&f);
	assert_int_equal(memscan_process_check_alive(p), MEMSCAN_ERR_PROCESS_GONE);
	memscan_process_free(p);
	memscan_process_free(NULL);
}

struct thread_id {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int tid, done;
};

/* A second thread of this process: publishes its thread ID, then waits to be told to end. */
static void *thread_main(void *arg)
{
	struct thread_id *t = arg;

	pthread_mutex_lock(&t->lock);
	t->tid = (int)syscall(SYS_gettid);
	pthread_cond_broadcast(&t->cond);
	while (!t->done)
		pthread_cond_wait(&t->cond, &t->lock);
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* A thread ID is not a process: refused, however readable its memory would be. */
static void test_process_open_refuses_thread_ids(void **state)
{
	struct thread_id t = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	memscan_process *p = (memscan_process *)1;
	pthread_t thr;

	(void)state;
	assert_int_equal(pthread_create(&thr, NULL, thread_main, &t), 0);
	pthread_mutex_lock(&t.lock);
	while (!t.tid)
		pthread_cond_wait(&t.cond, &t.lock);
	pthread_mutex_unlock(&t.lock);
	assert_int_not_equal(t.tid, getpid());
	assert_int_equal(memscan_thread_group(t.tid), getpid());
	assert_int_equal(memscan_thread_group(getpid()), getpid());
	assert_int_equal(memscan_thread_group(ms_reaped_pid()), -1);
	assert_int_equal(memscan_thread_group(0), -1);
	assert_int_equal(memscan_process_open(t.tid, &p), MEMSCAN_ERR_NO_PROCESS);
	assert_null(p);
	assert_int_equal(memscan_process_open(getpid(), &p), MEMSCAN_OK);
	memscan_process_free(p);
	pthread_mutex_lock(&t.lock);
	t.done = 1;
	pthread_cond_broadcast(&t.cond);
	pthread_mutex_unlock(&t.lock);
	pthread_join(thr, NULL);
}

/* Descriptors this process has open. */
static size_t open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A handle holds its pidfd and nothing else until a read needs more; trim gives the rest back. */
static void test_process_holds_one_descriptor(void **state)
{
	memscan_process *p;
	memscan_snapshot *snap;
	ms_fixture f;
	size_t before;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	before = open_fds();
	assert_int_equal(memscan_process_open(f.pid, &p), MEMSCAN_OK);
	assert_int_equal(open_fds(), before + 1);
	/* reading through /proc/PID/mem opens it; skipping absent pages opens maps and pagemap */
	assert_int_equal(memscan_process_set_read_method(p, MEMSCAN_READ_PROC_MEM), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_take(p, NULL, &snap), MEMSCAN_OK);
	memscan_snapshot_free(snap);
	assert_true(open_fds() > before + 1);
	memscan_process_trim(p);
	assert_int_equal(open_fds(), before + 1);
	/* ... and they open again when needed */
	assert_int_equal(memscan_snapshot_take(p, NULL, &snap), MEMSCAN_OK);
	memscan_snapshot_free(snap);
	memscan_process_free(p);
	assert_int_equal(open_fds(), before);
	ms_fixture_stop(&f);
}

static void test_process_zombie_is_gone(void **state)
{
	memscan_process *p = NULL;
	pid_t pid = fork();

	(void)state;
	if (pid == 0)
		_exit(0);
	/* wait until it is a zombie without reaping it */
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(memscan_process_open(pid, &p), MEMSCAN_ERR_PROCESS_GONE);
	assert_null(p);
	waitpid(pid, NULL, 0);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* A signal caught while a liveness check or a read is in the kernel says nothing about the target:
 * with a timer firing every 20 us, each of many checks and reads must still succeed. */
static void test_process_alive_despite_signals(void **state)
{
	struct itimerval every = { { 0, 20 }, { 0, 20 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa, old;
	memscan_process *fixture, *self;
	uint8_t src[256], dst[256];
	long checks_failed = 0, reads_failed = 0;
	ms_fixture f;

	(void)state;
	memset(src, 0x5A, sizeof(src));
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_open(f.pid, &fixture), MEMSCAN_OK);
	assert_int_equal(memscan_process_open(getpid(), &self), MEMSCAN_OK);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	assert_int_equal(sigaction(SIGALRM, &sa, &old), 0);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &every, NULL), 0);
	for (int i = 0; i < 100000; i++) {
		if (memscan_process_check_alive(fixture) != MEMSCAN_OK)
			checks_failed++;
		if (memscan_read(self, (uint64_t)(uintptr_t)src, dst, sizeof(dst), NULL) != MEMSCAN_OK)
			reads_failed++;
	}
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old, NULL), 0);
	assert_true(alarms > 100); /* the signals really came */
	assert_int_equal(checks_failed, 0);
	assert_int_equal(reads_failed, 0);
	assert_memory_equal(dst, src, sizeof(src));
	memscan_process_free(self);
	memscan_process_free(fixture);
	ms_fixture_stop(&f);
}

static void test_process_list_contains_fixture(void **state)
{
	memscan_proc_info *list;
	size_t n, found = 0;
	ms_fixture f;

	(void)state;
	assert_int_equal(ms_fixture_start(&f, NULL), 0);
	assert_int_equal(memscan_process_list(&list, &n), MEMSCAN_OK);
	assert_true(n > 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			assert_true(list[i - 1].pid < list[i].pid);
		if (list[i].pid == f.pid) {
			found++;
			assert_int_equal(list[i].ppid, getpid());
			assert_string_equal(list[i].name, "memscan-fixture");
			assert_non_null(strstr(list[i].cmdline, "memscan-fixture"));
			assert_true(list[i].rss_bytes > 0);
		}
	}
	assert_int_equal(found, 1);
	free(list);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_process_open_rejects_bad_pids),
		cmocka_unit_test(test_process_open_fixture_and_detect_exit),
		cmocka_unit_test(test_process_zombie_is_gone),
		cmocka_unit_test(test_process_open_refuses_thread_ids),
		cmocka_unit_test(test_process_holds_one_descriptor),
		cmocka_unit_test(test_process_list_contains_fixture),
		cmocka_unit_test(test_process_alive_despite_signals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
