/* SPDX-License-Identifier: MIT */
/* memscan-bench measures of whole CLI runs against agents on loopback: `memscan remote scan` over 16
 * agents (separate processes) against the same scan through one of them (F1), and `memscan remote
 * snapshot` into a file against the local `memscan snapshot` of the same target (B15). */
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memscan/client.h>

#ifndef BENCH_CLI_PATH
#define BENCH_CLI_PATH "memscan"
#endif

#define FLEET_AGENTS 16

/* B15's target: what a remote snapshot's fixed costs (connect, handshake, first pages) weigh on. */
#define SNAPCLI_SIZE (32u << 20)

struct fleet_bench {
	child agent[FLEET_AGENTS];
	char hostport[FLEET_AGENTS][64];
	char dir[300], id[340], hosts[340], cfg[340];
	int n; /* agents started */
};

/* Keys: one for all agents (a fleet shares its key) into AGENT_PUB, one for the client, authorized on
 * every agent. */
static int fleet_keys(struct fleet_bench *fb, char *agent_key, char *agent_pub, char *auth)
{
	char fp[MEMSCAN_FINGERPRINT_LEN], err[256], path[360], line[256];
	FILE *out;

	snprintf(agent_key, 320, "%s/agent.key", fb->dir);
	snprintf(fb->id, sizeof(fb->id), "%s/client.key", fb->dir);
	snprintf(auth, 320, "%s/authorized_keys", fb->dir);
	if (memscan_key_generate(agent_key, "fleet", fp, err, sizeof(err)) != MEMSCAN_OK ||
	    memscan_key_generate(fb->id, "bench", fp, err, sizeof(err)) != MEMSCAN_OK) {
		bench_log("fleet: keygen: %s", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s.pub", agent_key);
	if (bench_read_line(path, agent_pub, 256) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s.pub", fb->id);
	if (bench_read_line(path, line, sizeof(line)) != 0 || !(out = fopen(auth, "w")))
		return -1;
	fprintf(out, "perms=list,read,scan %s\n", line);
	return fclose(out);
}

/* Agent N's HOST:PORT from its listening line. */
static int agent_listening(struct fleet_bench *fb, int n)
{
	char line[256];

	for (int i = 0; i < 4; i++) {
		if (child_read_line(&fb->agent[n], line, sizeof(line), 10000) != 0)
			return -1;
		if (sscanf(line, "listening tcp://%63s", fb->hostport[n]) == 1)
			return 0;
	}
	return -1;
}

/* Starts N agents, their files in the scratch directory NAME, and writes the hosts file and
 * known_agents (each agent pinned by address). */
static int fleet_start(const bench_opts *o, struct fleet_bench *fb, const char *name, int n_agents)
{
	char key[320], auth[320], errp[340], pub[256], known[400], fp[MEMSCAN_FINGERPRINT_LEN], err[512];
	const char *argv[] = { o->agent_path, "--listen", "tcp://127.0.0.1:0",
		               "--key",       key,        "--authorized-keys",
		               auth,          NULL };
	FILE *hosts;
	int n = 0;

	for (int i = 0; i < FLEET_AGENTS; i++)
		fb->agent[i].pid = -1;
	snprintf(fb->dir, sizeof(fb->dir), "%s/%s", o->tmpdir, name);
	snprintf(fb->cfg, sizeof(fb->cfg), "%s/cfg", fb->dir);
	snprintf(known, sizeof(known), "%s/memscan/known_agents", fb->cfg);
	snprintf(errp, sizeof(errp), "%s/agents.log", fb->dir);
	snprintf(fb->hosts, sizeof(fb->hosts), "%s/hosts.txt", fb->dir);
	if (mkdir(fb->dir, 0700) != 0 || fleet_keys(fb, key, pub, auth) != 0 ||
	    !(hosts = fopen(fb->hosts, "w")))
		return -1;
	for (; n < n_agents; n++) {
		if (child_start(&fb->agent[n], argv, errp) != 0 || agent_listening(fb, n) != 0 ||
		    memscan_key_trust(known, fb->hostport[n], pub, fp, err, sizeof(err)) != MEMSCAN_OK)
			break;
		fprintf(hosts, "%s\n", fb->hostport[n]);
	}
	fclose(hosts);
	fb->n = n;
	return n == n_agents ? 0 : -1;
}

/* The CLI's configuration (known_agents) while it runs against FB's agents: XDG_CONFIG_HOME set to
 * FB's, what it was restored after. */
struct cfg_saved {
	char value[4096];
	int had;
};

static void cfg_enter(const struct fleet_bench *fb, struct cfg_saved *s)
{
	const char *old = getenv("XDG_CONFIG_HOME");

	s->had = old != NULL;
	snprintf(s->value, sizeof(s->value), "%s", old ? old : "");
	setenv("XDG_CONFIG_HOME", fb->cfg, 1);
}

static void cfg_leave(const struct cfg_saved *s)
{
	if (s->had)
		setenv("XDG_CONFIG_HOME", s->value, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
}

static void fleet_stop(struct fleet_bench *fb)
{
	for (int i = 0; i < FLEET_AGENTS; i++)
		if (fb->agent[i].pid > 0)
			child_stop(&fb->agent[i]);
}

/* `memscan remote scan TARGET --pattern P` REPS times into F (seconds); 0 if every run succeeded. */
static int time_scan(const bench_opts *o, struct fleet_bench *fb, const char *target, const char *pattern,
                     figure *f)
{
	const char *argv[] = { BENCH_CLI_PATH, "remote",  "scan",       target, "--pattern",
		               pattern,        "--quiet", "--identity", fb->id, NULL };
	char out[360];
	double wall;

	snprintf(out, sizeof(out), "%s/scan.out", fb->dir);
	for (int r = 0; r < o->reps; r++) {
		if (run_command(argv, out, 600000, &wall) != 0)
			return -1;
		fig_add(f, wall);
	}
	return 0;
}

void bench_fleet(const bench_opts *o)
{
	figure *one = fig_new("fleet.scan_one", "s", "remote scan through one agent (CLI wall time)");
	figure *all = fig_new("fleet.scan_16", "s", "remote scan @hosts over 16 agents on loopback");
	struct fleet_bench fb;
	char target_text[400], pattern[32];
	uint64_t size = o->quick ? (16u << 20) : (64u << 20);
	target t;

	memset(&fb, 0, sizeof(fb));
	for (int i = 0; i < FLEET_AGENTS; i++)
		fb.agent[i].pid = -1;
	if (o->no_remote || target_start(o, &t, size, 16) != 0) {
		fig_skip(one, "%s", o->no_remote ? "--no-remote" : "the target did not start");
		fig_skip(all, "%s", o->no_remote ? "--no-remote" : "the target did not start");
		return;
	}
	snprintf(pattern, sizeof(pattern), "%02X %02X %02X %02X", o->needle & 0xff, (o->needle >> 8) & 0xff,
	         (o->needle >> 16) & 0xff, o->needle >> 24);
	if (fleet_start(o, &fb, "fleet", FLEET_AGENTS) != 0) {
		fig_skip(one, "the agents did not start (see %s/agents.log)", fb.dir);
		fig_skip(all, "the agents did not start");
	} else {
		struct cfg_saved saved;

		cfg_enter(&fb, &saved);
		snprintf(target_text, sizeof(target_text), "%s:%d", fb.hostport[0], (int)t.c.pid);
		if (time_scan(o, &fb, target_text, pattern, one) != 0)
			fig_skip(one, "remote scan failed (see %s/scan.out)", fb.dir);
		snprintf(target_text, sizeof(target_text), "@%s:%d", fb.hosts, (int)t.c.pid);
		if (time_scan(o, &fb, target_text, pattern, all) != 0)
			fig_skip(all, "remote scan over the fleet failed (see %s/scan.out)", fb.dir);
		fig_note(all, "%.0f MiB target, the same process scanned by each agent", (double)size / MIB);
		cfg_leave(&saved);
	}
	fleet_stop(&fb);
	target_stop(&t);
}

void fleet_ratios(void)
{
	double one = fig_median("fleet.scan_one"), all = fig_median("fleet.scan_16");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double lanes = ncpu < 1 ? 1 : ncpu > FLEET_AGENTS ? FLEET_AGENTS : (double)ncpu;
	ratio *r = ratio_new("F1", "scan over 16 agents / one agent, per core available", 1.5, 1);

	ratio_set(r, one <= 0 || all < 0 ? -1 : (all / one) / (FLEET_AGENTS / lanes));
	if (one > 0 && all >= 0)
		ratio_note(r, "16 agents took %.2fx one agent's time on %ld cores (one after another: 16x)",
		           all / one, ncpu);
}

/* ---- B15: remote snapshot into a file against the local one ---- */

/* Alternates `memscan snapshot PID -o FILE` (into LOC) and `memscan remote snapshot HOST:PORT:PID -o
 * FILE` (into REM), whole CLI runs, of the whole target or (RANGE not NULL) of `--range RANGE` only;
 * 0 if every run succeeded. */
static int time_snapshots(const struct fleet_bench *fb, int runs, pid_t pid, const char *range, figure *loc,
                          figure *rem)
{
	char pid_text[16], target[96], out[360], lfile[360], rfile[360];
	const char *largv[] = {
		BENCH_CLI_PATH, "snapshot", pid_text, "-o", lfile, "--quiet", NULL, NULL, NULL
	};
	const char *rargv[] = { BENCH_CLI_PATH, "remote",     "snapshot", target, "-o", rfile,
		                "--quiet",      "--identity", fb->id,     NULL,   NULL, NULL };
	double wall;

	if (range) {
		largv[6] = rargv[9] = "--range";
		largv[7] = rargv[10] = range;
	}
	snprintf(pid_text, sizeof(pid_text), "%d", (int)pid);
	snprintf(target, sizeof(target), "%s:%d", fb->hostport[0], (int)pid);
	snprintf(out, sizeof(out), "%s/snapshot.out", fb->dir);
	snprintf(lfile, sizeof(lfile), "%s/local.snap", fb->dir);
	snprintf(rfile, sizeof(rfile), "%s/remote.snap", fb->dir);
	for (int r = 0; r < runs; r++) {
		/* each run starts with no dirty pages of the runs before it to write back: the page cache
		 * throttling a writer behind the others' 34 MiB moved the local run from 31 to 69 ms */
		sync();
		if (run_command(largv, out, 60000, &wall) != 0)
			return -1;
		fig_add(loc, wall);
		sync();
		if (run_command(rargv, out, 60000, &wall) != 0)
			return -1;
		fig_add(rem, wall);
	}
	unlink(lfile);
	unlink(rfile);
	return 0;
}

void bench_snapcli(const bench_opts *o)
{
	figure *loc =
	    fig_new("cli.snapshot_local", "s", "memscan snapshot PID -o FILE, 32 MiB target (CLI wall)");
	figure *rem =
	    fig_new("cli.snapshot_remote", "s", "memscan remote snapshot of the same into a file (CLI wall)");
	figure *loc4 = fig_new("cli.snapshot_local_4k", "s", "memscan snapshot PID --range (4 KiB) -o FILE");
	figure *rem4 = fig_new("cli.snapshot_remote_4k", "s", "memscan remote snapshot of the same 4 KiB");
	figure *all[] = { loc, rem, loc4, rem4 };
	/* short runs whose spread is wide on shared machines: more of them than of the long measures */
	int runs = o->quick ? 7 : 11;
	struct fleet_bench fb;
	struct cfg_saved saved;
	char range[64];
	target t;

	memset(&fb, 0, sizeof(fb));
	if (o->no_remote || target_start(o, &t, SNAPCLI_SIZE, 16) != 0) {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			fig_skip(all[i], "%s", o->no_remote ? "--no-remote" : "the target did not start");
		return;
	}
	if (fleet_start(o, &fb, "snapcli", 1) != 0) {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			fig_skip(all[i], "the agent did not start (see %s/agents.log)", fb.dir);
	} else {
		cfg_enter(&fb, &saved);
		/* the fixed costs alone: start-up, keys, connection, handshake, listing, one page, commit */
		snprintf(range, sizeof(range), "%llx-%llx", (unsigned long long)t.addr,
		         (unsigned long long)t.addr + 4096);
		if (time_snapshots(&fb, runs, t.c.pid, NULL, loc, rem) != 0 ||
		    time_snapshots(&fb, runs, t.c.pid, range, loc4, rem4) != 0) {
			for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
				fig_skip(all[i], "a snapshot failed (see %s/snapshot.out)", fb.dir);
		}
		cfg_leave(&saved);
		fig_note(rem, "%u MiB target, %d runs alternated with the local ones", SNAPCLI_SIZE >> 20,
		         runs);
	}
	fleet_stop(&fb);
	target_stop(&t);
}

void snapcli_ratios(void)
{
	ratio *r = ratio_new("B15", "remote snapshot to a file / local one, 32 MiB, whole CLI runs", 2, 1);
	ratio *f = ratio_new("B15", "the same of a 4 KiB range: the fixed costs alone", 2, 1);
	double loc = fig_median("cli.snapshot_local"), rem = fig_median("cli.snapshot_remote");
	double loc4 = fig_median("cli.snapshot_local_4k"), rem4 = fig_median("cli.snapshot_remote_4k");
	double aead = fig_median("base.aead_chacha20");

	ratio_set(r, loc <= 0 || rem < 0 ? -1 : rem / loc);
	/* what no fixed cost explains: every byte sealed by the agent and opened by the client */
	if (loc > 0 && rem >= 0 && aead > 0)
		ratio_note(r,
		           "local %.0f ms, remote %.0f ms (medians); the channel's cipher alone costs %.0f "
		           "ms of CPU (sealed and opened at %.2f GB/s)",
		           loc * 1e3, rem * 1e3, 2.0 * SNAPCLI_SIZE / (aead * 1e9) * 1e3, aead);
	else if (loc > 0 && rem >= 0)
		ratio_note(r, "local %.0f ms, remote %.0f ms (medians)", loc * 1e3, rem * 1e3);
	ratio_set(f, loc4 <= 0 || rem4 < 0 ? -1 : rem4 / loc4);
	if (loc4 > 0 && rem4 >= 0)
		ratio_note(f, "local %.1f ms, remote %.1f ms (medians)", loc4 * 1e3, rem4 * 1e3);
}
