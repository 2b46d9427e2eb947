/* SPDX-License-Identifier: MIT */
/* memscan-bench remote measures: the real agent over loopback (diff, snapshot, latency, 64 clients, memory).
 */
#include "remote.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <memscan/client.h>
#include <memscan/memscan.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

/* ---- B4: remote diff against local detection, and the bytes on the wire ---- */

static uint64_t encoded_runs(const memscan_diff *d)
{
	uint64_t total = 0;

	/* address (8) + length (8) + old and new bytes of each run */
	for (size_t i = 0; i < memscan_diff_run_count(d); i++)
		total += 16 + 2 * (uint64_t)memscan_diff_run(d, i).length;
	return total;
}

static void bench_remote_diff(const remote *rm, memscan_client *cl, target *t)
{
	const bench_opts *o = rm->o;
	figure *fr =
	    fig_new("remote.diff_0.01pct", "ms", "memscan_client_diff(update) over loopback, 0.01% changed");
	figure *fl = fig_new("local.detect_accept_0.01pct", "ms",
	                     "local detect_changes + accept on the same target and change");
	figure *fw =
	    fig_new("remote.wire_0.01pct", "ratio", "bytes on the wire / encoded change runs, 0.01% changed");
	figure *fw1 =
	    fig_new("remote.wire_1pct", "ratio", "bytes on the wire / encoded change runs, 1% changed");
	memscan_process *proc = NULL;
	memscan_detector *det = NULL;
	uint64_t id = 0, held = 0;
	int rc, bad = 0;

	rc = memscan_client_snapshot(cl, (int)t->c.pid, NULL, &id, NULL, &held);
	if (rc != MEMSCAN_OK || memscan_process_open((int)t->c.pid, &proc) != MEMSCAN_OK ||
	    memscan_detector_new(&det) != MEMSCAN_OK ||
	    memscan_detector_initialize(det, proc, NULL) != MEMSCAN_OK) {
		fig_skip(fr, "remote snapshot or local detector failed: %s", memscan_strerror(rc));
		fig_skip(fl, "remote snapshot or local detector failed");
		goto wire;
	}
	for (int r = 0; r < o->reps; r++) {
		memscan_diff *ld = NULL, *rd = NULL;
		uint64_t expected;
		double t0, t1, t2;

		if (target_change(t, 0.0001, &expected, NULL) != 0)
			break;
		t0 = now_s();
		rc = memscan_detector_detect_changes(det, proc, NULL, &ld);
		if (rc == MEMSCAN_OK)
			rc = memscan_detector_accept(det);
		t1 = now_s();
		if (rc == MEMSCAN_OK)
			rc = memscan_client_diff(cl, id, MEMSCAN_DIFF_UPDATE, &rd);
		t2 = now_s();
		if (rc != MEMSCAN_OK) {
			fig_skip(fr, "diff failed: %s (%s)", memscan_strerror(rc),
			         memscan_client_last_error(cl));
			memscan_diff_free(ld);
			break;
		}
		bad += memscan_diff_changed_bytes(rd) < expected ||
		       memscan_diff_changed_bytes(rd) > expected + 65536;
		fig_add(fl, (t1 - t0) * 1000);
		fig_add(fr, (t2 - t1) * 1000);
		memscan_diff_free(ld);
		memscan_diff_free(rd);
	}
	if (!fr->skipped)
		fig_note(fr, "agent holds %.0f MiB%s", (double)held / MIB,
		         bad ? "; IMPLAUSIBLE change counts" : "");
	rc = memscan_client_release(cl, id);
	(void)rc;

wire : {
	proxy px;
	char url[64];
	memscan_client *pc = NULL;
	static const double fracs[2] = { 0.0001, 0.01 };
	figure *fws[2] = { fw, fw1 };

	if (proxy_start(&px, url_port(rm->url)) != 0) {
		fig_skip(fw, "cannot start the counting relay");
		fig_skip(fw1, "cannot start the counting relay");
		goto out;
	}
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", px.port);
	if (remote_client_open(rm, "proxy", url, &pc) != MEMSCAN_OK ||
	    memscan_client_snapshot(pc, (int)t->c.pid, NULL, &id, NULL, &held) != MEMSCAN_OK) {
		fig_skip(fw, "client through the relay failed");
		fig_skip(fw1, "client through the relay failed");
	} else {
		for (int k = 0; k < 2; k++) {
			for (int r = 0; r < (o->quick ? 1 : 3); r++) {
				memscan_diff *rd = NULL;
				uint64_t expected, before, wire, enc;

				if (target_change(t, fracs[k], &expected, NULL) != 0)
					break;
				before = atomic_load(&px.bytes);
				rc = memscan_client_diff(pc, id, MEMSCAN_DIFF_UPDATE, &rd);
				wire = atomic_load(&px.bytes) - before;
				if (rc != MEMSCAN_OK) {
					fig_skip(fws[k], "diff through the relay: %s", memscan_strerror(rc));
					break;
				}
				enc = encoded_runs(rd);
				fig_add(fws[k], (double)wire / (double)(enc + 4096));
				fig_note(fws[k],
				         "%" PRIu64 " wire bytes for %zu runs, %" PRIu64
				         " changed bytes (encoded %" PRIu64 " + 4096)",
				         wire, memscan_diff_run_count(rd), memscan_diff_changed_bytes(rd),
				         enc);
				memscan_diff_free(rd);
			}
		}
		rc = memscan_client_release(pc, id);
	}
	memscan_client_free(pc);
	proxy_stop(&px);
}
out:
	memscan_detector_free(det);
	memscan_process_free(proc);
}

/* ---- B5 + B7: remote snapshot into a client file; the agent's memory ---- */

/* Minor page faults of this process so far (all threads). */
static long minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static void bench_remote_snapshot(const remote *rm, memscan_client *cl, target *t)
{
	const bench_opts *o = rm->o;
	figure *fs = fig_new("remote.snapshot_file", "GB/s",
	                     "memscan_client_snapshot + _snapshot_save (streamed into the file), loopback");
	figure *ff =
	    fig_new("remote.fetch", "GB/s", "memscan_client_snapshot_fetch into memory (channel + transfer)");
	figure *fi = fig_new("agent.rss_idle", "MiB", "agent VmRSS, connected, holding nothing");
	figure *fh =
	    fig_new("agent.rss_holding", "MiB", "agent VmRSS while holding one snapshot of the target");
	figure *fb = fig_new("agent.held", "MiB", "snapshot bytes the agent holds");
	figure *fd =
	    fig_new("agent.hwm_diff50", "MiB", "agent peak RSS during a remote diff with 50% changed");
	figure *ft =
	    fig_new("remote.diff_50pct", "s", "memscan_client_diff, 50% changed (all runs to the client)");
	char path[320];
	pid_t apid = rm->agent.pid;
	uint64_t id = 0, held = 0;
	long faults = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/remote.snap", o->tmpdir);
	fig_add(fi, (double)proc_status_kib(apid, "VmRSS") / 1024);
	for (int r = 0; r < o->slow_reps; r++) {
		memscan_snapshot *s = NULL;
		double t0 = now_s(), t1, t2;
		long rss;

		/* what `memscan remote snapshot -o` does: take, then download straight into the file */
		rc = memscan_client_snapshot(cl, (int)t->c.pid, NULL, &id, NULL, &held);
		if (rc == MEMSCAN_OK)
			rc = memscan_client_snapshot_save(cl, id, path, NULL);
		t1 = now_s();
		rss = proc_status_kib(apid, "VmRSS");
		/* the download alone, into memory, from the same kept snapshot */
		faults = minor_faults();
		if (rc == MEMSCAN_OK)
			rc = memscan_client_snapshot_fetch(cl, id, &s);
		t2 = now_s();
		faults = minor_faults() - faults;
		if (rc != MEMSCAN_OK) {
			fig_skip(fs, "remote snapshot failed: %s (%s)", memscan_strerror(rc),
			         memscan_client_last_error(cl));
			memscan_snapshot_free(s);
			break;
		}
		fig_add(fs, (double)held / (t1 - t0) / GB);
		fig_add(ff, (double)held / (t2 - t1) / GB);
		fig_add(fh, (double)rss / 1024);
		fig_add(fb, (double)held / MIB);
		memscan_snapshot_free(s);
		unlink(path);
		rc = memscan_client_release(cl, id);
		if (rc != MEMSCAN_OK)
			bench_log("release: %s", memscan_strerror(rc));
	}
	fig_note(fs, "file in %s", o->tmpdir);
	fig_note(ff, "last: %ld page faults in the client process, %.1f per MiB", faults,
	         held ? (double)faults * MIB / (double)held : 0.0);
	fig_add(fi, (double)proc_status_kib(apid, "VmRSS") / 1024);
	fig_note(fi, "before and after the snapshots");

	/* the peak while a big diff streams: reset the agent's VmHWM (clear_refs 5), then diff 50% */
	rc = memscan_client_snapshot(cl, (int)t->c.pid, NULL, &id, NULL, &held);
	if (rc == MEMSCAN_OK) {
		char cr[64];
		uint64_t expected;
		memscan_diff *d = NULL;
		int cfd;
		double t0;

		snprintf(cr, sizeof(cr), "/proc/%d/clear_refs", (int)apid);
		cfd = open(cr, O_WRONLY | O_CLOEXEC);
		if (cfd >= 0) {
			if (write(cfd, "5", 1) != 1)
				bench_log("cannot reset the agent's VmHWM");
			close(cfd);
		}
		if (target_change(t, 0.5, &expected, NULL) == 0) {
			t0 = now_s();
			rc = memscan_client_diff(cl, id, 0, &d);
			if (rc == MEMSCAN_OK) {
				fig_add(ft, now_s() - t0);
				fig_note(ft, "%" PRIu64 " bytes in %zu runs", memscan_diff_changed_bytes(d),
				         memscan_diff_run_count(d));
				fig_add(fd, (double)proc_status_kib(apid, "VmHWM") / 1024);
				fig_note(fd, "held %.0f MiB; VmHWM reset before the diff%s",
				         (double)held / MIB, cfd < 0 ? " (reset failed)" : "");
			} else {
				fig_skip(ft, "diff failed: %s", memscan_strerror(rc));
				fig_skip(fd, "diff failed");
			}
			memscan_diff_free(d);
		}
		rc = memscan_client_release(cl, id);
	} else {
		fig_skip(fd, "snapshot failed: %s", memscan_strerror(rc));
		fig_skip(ft, "snapshot failed");
	}
}

/* ---- B6: a small request against a bare nng REQ/REP round trip ---- */

struct rep_ctx {
	nng_socket sock;
};

static void *rep_main(void *arg)
{
	struct rep_ctx *rc = arg;
	static uint8_t reply[4096];

	for (;;) {
		void *buf = NULL;
		size_t sz = 0;

		if (nng_recv(rc->sock, &buf, &sz, NNG_FLAG_ALLOC) != 0)
			break;
		nng_free(buf, sz);
		if (nng_send(rc->sock, reply, sizeof(reply), 0) != 0)
			break;
	}
	return NULL;
}

static void bench_nng(const bench_opts *o)
{
	figure *f =
	    fig_new("nng.reqrep_4k_p50", "us", "bare nng REQ/REP round trip, tcp loopback, 4 KiB reply: p50");
	struct rep_ctx rc;
	nng_socket req;
	nng_listener l;
	pthread_t th;
	char url[64];
	uint8_t msg[64] = { 0 };
	double *lat;
	int port = 0, n = o->latency_reqs;

	lat = calloc((size_t)n, sizeof(*lat));
	if (!lat || nng_rep0_open(&rc.sock) != 0) {
		fig_skip(f, "nng rep socket");
		free(lat);
		return;
	}
	if (nng_listen(rc.sock, "tcp://127.0.0.1:0", &l, 0) != 0 ||
	    nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0 ||
	    pthread_create(&th, NULL, rep_main, &rc) != 0) {
		fig_skip(f, "nng listen");
		nng_close(rc.sock);
		free(lat);
		return;
	}
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	if (nng_req0_open(&req) == 0 && nng_dial(req, url, NULL, 0) == 0) {
		int got = 0;

		for (int i = -20; i < n; i++) {
			void *buf = NULL;
			size_t sz = 0;
			double t0 = now_s();

			if (nng_send(req, msg, sizeof(msg), 0) != 0 ||
			    nng_recv(req, &buf, &sz, NNG_FLAG_ALLOC) != 0)
				break;
			if (i >= 0)
				lat[got++] = (now_s() - t0) * 1e6;
			nng_free(buf, sz);
		}
		for (int i = 0; i < got && i < BENCH_MAX_RUNS; i++)
			f->runs[f->n++] = lat[i];
		f->median = median_of(lat, got);
		fig_note(f, "%d round trips; runs list the first %d", got, f->n);
		nng_close(req);
	} else {
		fig_skip(f, "nng dial");
	}
	nng_close(rc.sock);
	pthread_join(th, NULL);
	free(lat);
}

static void bench_latency(const remote *rm, memscan_client *cl, pid_t small)
{
	const bench_opts *o = rm->o;
	figure *f = fig_new("remote.regions_p50", "us",
	                    "memscan_client_list_regions of a small process over loopback: p50");
	double *lat = calloc((size_t)o->latency_reqs, sizeof(*lat));
	size_t regions = 0;
	int got = 0;

	if (!lat) {
		fig_skip(f, "out of memory");
		return;
	}
	for (int i = -20; i < o->latency_reqs; i++) {
		memscan_region_list *l = NULL;
		double t0 = now_s();
		int rc = memscan_client_list_regions(cl, (int)small, NULL, &l);

		if (rc != MEMSCAN_OK) {
			fig_skip(f, "list_regions: %s", memscan_strerror(rc));
			break;
		}
		if (i >= 0)
			lat[got++] = (now_s() - t0) * 1e6;
		regions = memscan_region_list_count(l);
		memscan_region_list_free(l);
	}
	if (!f->skipped) {
		for (int i = 0; i < got && i < BENCH_MAX_RUNS; i++)
			f->runs[f->n++] = lat[i];
		f->median = median_of(lat, got);
		fig_note(f, "%d requests, %zu regions each; runs list the first %d", got, regions, f->n);
	}
	free(lat);
}

/* CPU the agent burns while nobody asks it anything (it should be ~0). */
static void agent_idle(const remote *rm, const char *when)
{
	figure *f =
	    fig_new("agent.idle_cores", "cores", "agent CPU time / wall time over 1 s without requests");
	double c0 = proc_cpu_s(rm->agent.pid), t0 = now_s();

	usleep(1000000);
	fig_add(f, (proc_cpu_s(rm->agent.pid) - c0) / (now_s() - t0));
	fig_note(f, "%s", when);
}

/* ---- B8: many clients at once ---- */

struct worker {
	const remote *rm;
	int idx, reqs;
	pid_t pid;
	pthread_barrier_t *bar;
	int errors, done;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	memscan_client *c = NULL;
	char name[32];

	snprintf(name, sizeof(name), "c%d", w->idx);
	if (remote_client_open(w->rm, name, w->rm->url, &c) != MEMSCAN_OK)
		w->errors++;
	pthread_barrier_wait(w->bar);
	for (int i = 0; c && i < w->reqs; i++) {
		memscan_region_list *l = NULL;

		if (memscan_client_list_regions(c, (int)w->pid, NULL, &l) != MEMSCAN_OK)
			w->errors++;
		else
			w->done++;
		memscan_region_list_free(l);
	}
	memscan_client_free(c);
	return NULL;
}

static void bench_clients(const remote *rm, pid_t small)
{
	const bench_opts *o = rm->o;
	char desc[120];
	figure *fr, *fe, *fa, *ft;
	struct worker *ws = calloc((size_t)o->clients, sizeof(*ws));
	pthread_t *th = calloc((size_t)o->clients, sizeof(*th));
	pthread_barrier_t bar;
	double t0, c0, s0, wall;
	int started = 0, errors = 0, done = 0;

	snprintf(desc, sizeof(desc), "%d clients x %d list_regions at once: requests per second", o->clients,
	         o->client_reqs);
	fr = fig_new("clients.throughput", "req/s", desc);
	fe = fig_new("clients.errors", "count", "failed connects + failed requests among them");
	fa = fig_new("clients.agent_cores", "cores", "agent CPU time / wall time during the run");
	ft = fig_new("clients.total_cores", "cores", "agent + client threads CPU time / wall time");
	if (!ws || !th || pthread_barrier_init(&bar, NULL, (unsigned)o->clients + 1) != 0) {
		fig_skip(fr, "out of memory");
		free(ws);
		free(th);
		return;
	}
	for (int i = 0; i < o->clients; i++) {
		ws[i] = (struct worker){ rm, i, o->client_reqs, small, &bar, 0, 0 };
		if (pthread_create(&th[i], NULL, worker_main, &ws[i]) != 0)
			break;
		started++;
	}
	if (started < o->clients) {
		/* cannot happen on a sane machine; release the barrier with the main thread standing in */
		bench_log("only %d of %d client threads started", started, o->clients);
		for (int i = started; i < o->clients; i++)
			pthread_barrier_wait(&bar);
	}
	pthread_barrier_wait(&bar);
	t0 = now_s();
	c0 = proc_cpu_s(rm->agent.pid);
	s0 = self_cpu_s();
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	wall = now_s() - t0;
	for (int i = 0; i < o->clients; i++) {
		errors += i < started ? ws[i].errors : 1;
		done += ws[i].done;
	}
	fig_add(fr, done / wall);
	fig_add(fe, errors);
	fig_add(fa, (proc_cpu_s(rm->agent.pid) - c0) / wall);
	fig_add(ft, (proc_cpu_s(rm->agent.pid) - c0 + self_cpu_s() - s0) / wall);
	fig_note(fr, "%d requests in %.2f s", done, wall);
	pthread_barrier_destroy(&bar);
	free(ws);
	free(th);
}

void bench_remote(const bench_opts *o, target *t)
{
	remote rm;
	memscan_client *cl = NULL;
	target small;

	bench_nng(o);
	if (o->no_remote || remote_start(&rm, o) != 0) {
		const char *why = o->no_remote ? "--no-remote" : "the agent did not start";

		fig_skip(fig_new("remote.diff_0.01pct", "ms", "remote diff"), "%s", why);
		fig_skip(fig_new("remote.snapshot_file", "GB/s", "remote snapshot into a file"), "%s", why);
		fig_skip(fig_new("remote.regions_p50", "us", "small remote request p50"), "%s", why);
		fig_skip(fig_new("clients.errors", "count", "concurrent clients"), "%s", why);
		if (!o->no_remote)
			remote_stop(&rm);
		return;
	}
	bench_log("agent %d at %s", (int)rm.agent.pid, rm.url);
	if (remote_client_open(&rm, "main", rm.url, &cl) != MEMSCAN_OK) {
		fig_skip(fig_new("remote.diff_0.01pct", "ms", "remote diff"), "cannot connect");
		remote_stop(&rm);
		return;
	}
	agent_idle(&rm, "runs: one client connected; all clients gone");
	if (target_start(o, &small, 1u << 20, 0) == 0) {
		bench_log("remote: small request latency");
		bench_latency(&rm, cl, small.c.pid);
	}
	bench_log("remote: snapshot into a file, agent memory");
	bench_remote_snapshot(&rm, cl, t);
	bench_log("remote: downloads with compression");
	bench_remote_zstd(o, cl, t);
	bench_log("remote: diff");
	bench_remote_diff(&rm, cl, t);
	memscan_client_free(cl);
	if (small.c.pid > 0) {
		bench_log("remote: %d concurrent clients", o->clients);
		bench_clients(&rm, small.c.pid);
		target_stop(&small);
	}
	agent_idle(&rm, "runs: one client connected; all clients gone");
	remote_stop(&rm);
}
