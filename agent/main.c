/* SPDX-License-Identifier: MIT */
/* memscan-agent: start-up (keys, listeners), the signal loop (SIGHUP reload, SIGTERM stop), shutdown. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "agent.h"

static int agent_load_keys(agent *ag)
{
	char err[512] = "";
	int rv;

	ag->priv = sodium_malloc(KEYFILE_KEY_LEN);
	if (!ag->priv) {
		fprintf(stderr, "memscan-agent: out of memory for the private key\n");
		return -1;
	}
	rv = keyfile_load_private(ag->cfg.key_path, ag->priv, ag->pub, err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "memscan-agent: %s%s\n", err[0] ? err : "cannot load the private key",
		        rv == -ENOENT ? " (create it with 'memscan keygen', or pass --key FILE)" : "");
		return -1;
	}
	keyfile_fingerprint(ag->pub, ag->fp);
	err[0] = '\0';
	rv = keyfile_load_authorized(ag->cfg.auth_path, &ag->auth, &ag->auth_count, err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "memscan-agent: %s%s\n", err[0] ? err : "cannot load the authorized keys",
		        rv == -ENOENT ? " (list client keys there, or pass --authorized-keys FILE)" : "");
		return -1;
	}
	if (ag->auth_count == 0)
		fprintf(stderr, "memscan-agent: warning: %s authorizes no key: nobody can connect\n",
		        ag->cfg.auth_path);
	return 0;
}

static int agent_init(agent *ag)
{
	memset(ag, 0, sizeof(*ag));
	ag->self_pid = getpid();
	chan_tai64n_now(ag->start_tai);
	atomic_init(&ag->stopping, 0);
	if (pthread_mutex_init(&ag->auth_lock, NULL) || pthread_mutex_init(&ag->table_lock, NULL) ||
	    pthread_mutex_init(&ag->close_lock, NULL) || pthread_mutex_init(&ag->budget_lock, NULL) ||
	    pthread_mutex_init(&ag->vset_lock, NULL) || pthread_mutex_init(&ag->stop_lock, NULL) ||
	    pthread_mutex_init(&ag->work_lock, NULL) || pthread_cond_init(&ag->work_cond, NULL))
		return -1;
	/* the housekeeper's deadlines are CLOCK_MONOTONIC: the condition variable must agree, or every
	 * timed wait returns at once and the thread spins */
	return agent_cond_init_monotonic(&ag->stop_cond) ? -1 : 0;
}

static void agent_cleanup(agent *ag)
{
	agent_vsets_free_all(ag);
	free(ag->auth);
	free(ag->replay);
	sodium_free(ag->priv);
	agent_config_free(&ag->cfg);
}

/* One line at start when the agent cannot read other users' processes, and what to do. */
static void agent_check_privilege(void)
{
	if (memscan_holds_cap_ptrace())
		return;
	fprintf(stderr,
	        "memscan-agent: warning: running as uid %u without CAP_SYS_PTRACE: it can read only "
	        "processes of uid %u; grant the capability (AmbientCapabilities=CAP_SYS_PTRACE in "
	        "deploy/memscan-agent.service, or setpriv --inh-caps +sys_ptrace --ambient-caps "
	        "+sys_ptrace)\n",
	        (unsigned)geteuid(), (unsigned)geteuid());
}

/* Waits for signals: SIGHUP reloads the authorized keys, SIGTERM/SIGINT return. */
static void agent_signal_loop(const sigset_t *set, agent *ag)
{
	for (;;) {
		int sig = 0;

		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			agent_notify_reloading();
			agent_reload_authorized(ag);
			agent_notify_ready(ag->fp);
			continue;
		}
		agent_notify_stopping();
		agent_log("signal %d: stopping", sig);
		return;
	}
}

/* Reply frames (up to a page, 4 MiB and a little) come from the heap and go back to it, so the next
 * one reuses memory already faulted in (glibc would mmap each one afresh and every 4 KiB page would
 * fault again, ~10 us each). Two arenas and a bounded trim threshold cap what stays resident. */
static void agent_tune_malloc(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, AGENT_HEAP_BLOCK_MAX);
	(void)mallopt(M_TRIM_THRESHOLD, AGENT_HEAP_KEEP);
	(void)mallopt(M_ARENA_MAX, 2);
}

/* Every session may hold descriptors (its connection, a pidfd per kept snapshot and heat): the soft limit on
 * descriptors, often 1024, goes up to the hard one (the unit's LimitNOFILE). */
static void agent_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		fprintf(stderr, "memscan-agent: warning: cannot raise the descriptor limit to %llu: %s\n",
		        (unsigned long long)rl.rlim_max, strerror(errno));
}

/* Descriptors per session besides its kept snapshots' pidfds: the connection, a pending result's
 * handle, a diff's maps and pagemap, a cached listing handle. */
#define AGENT_FDS_PER_SESSION 5
/* Descriptors the agent itself holds: listeners, nng's pollers and pipes, stdio, the gate. */
#define AGENT_FDS_OWN 64

/* One line when clients could exhaust the descriptor limit (every kept snapshot and every heat holds a
 * pidfd): the agent would then fail to accept or open anything for everyone. */
static void agent_check_nofile(const agent_config *cfg)
{
	uint64_t need =
	    (uint64_t)cfg->max_connections * (cfg->max_snapshots + AGENT_MAX_HEATS + AGENT_FDS_PER_SESSION) +
	    AGENT_FDS_OWN;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || need <= rl.rlim_cur)
		return;
	fprintf(stderr,
	        "memscan-agent: warning: max_connections=%u sessions keeping max_snapshots=%u snapshots "
	        "and %u heats each could hold %llu descriptors, over the limit of %llu: raise LimitNOFILE "
	        "(ulimit -n) "
	        "or lower max_connections or max_snapshots\n",
	        cfg->max_connections, cfg->max_snapshots, AGENT_MAX_HEATS, (unsigned long long)need,
	        (unsigned long long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
	static agent ag; /* static: nng's threads may still see it while the socket closes */
	sigset_t set;
	int rc = AGENT_EXIT_RUNTIME, pr;

	/* before any thread exists (ours or nng's), so that every thread inherits the mask */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	agent_tune_malloc();
	agent_raise_nofile();
	agent_journal_detect();

	if (agent_init(&ag) != 0 || sodium_init() < 0) {
		fprintf(stderr, "memscan-agent: cannot initialize\n");
		return AGENT_EXIT_RUNTIME;
	}
	pr = agent_config_parse(argc, argv, &ag.cfg);
	if (pr != 0) {
		agent_config_free(&ag.cfg);
		return pr > 0 ? 0 : AGENT_EXIT_USAGE;
	}
	if (agent_load_keys(&ag) != 0)
		goto out;
	agent_check_nofile(&ag.cfg);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	agent_check_privilege();
	if (agent_server_start(&ag) != 0) {
		agent_server_stop(&ag);
		goto out;
	}
	agent_notify_ready(ag.fp);
	agent_signal_loop(&set, &ag);
	agent_server_stop(&ag);
	rc = 0;
out:
	agent_cleanup(&ag);
	return rc;
}
