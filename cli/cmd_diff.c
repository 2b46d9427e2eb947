/* SPDX-License-Identifier: MIT */
/* memscan CLI commands over time: snapshot (save to a file) and diff (PID over time, or two files). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cancel.h"
#include "cmd.h"
#include "output.h"
#include "progress.h"
#include "stats.h"
#include "target.h"

/* Sleeps MS milliseconds, returning early when SIGINT or SIGTERM arrives. */
static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (!cli_cancelled() && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* ---- snapshot ---------------------------------------------------------------------------- */

/* Takes a snapshot of LIST's regions (selected with FILTER, which the file records) locally, streamed
 * into the file; INFO: what was written. */
static int snapshot_local(const struct cli_opts *o, struct cli_target *t, const memscan_region_list *list,
                          const memscan_filter *filter, memscan_snapshot_file_info *info)
{
	struct cli_progress p;
	int err;

	errno = 0;
	cli_progress_start(&p, t->proc, "snapshot", memscan_region_list_bytes(list), o->quiet);
	err = memscan_snapshot_write_process(t->proc, list, filter, o->output, info);
	cli_progress_end(&p, t->proc);
	if (err == MEMSCAN_ERR_IO) {
		cli_err("cannot write snapshot '%s': %s", o->output,
		        errno ? strerror(errno) : memscan_strerror(err));
		return CLI_FAIL;
	}
	return err == MEMSCAN_OK ? CLI_OK : cli_target_err(t, err, "taking the snapshot");
}

static int snapshot_run(const struct cli_opts *o, struct cli_target *t)
{
	memscan_snapshot_file_info info = { 0 };
	memscan_region_list *list = NULL;
	memscan_filter filter;
	int ret, err;

	if (t->client) { /* the library lists the regions: once */
		cli_target_filter(&o->filter, &filter);
		err = cli_target_download(t, &filter, o->output, &info);
		ret = err == MEMSCAN_OK ? CLI_OK : cli_target_err(t, err, "downloading the snapshot");
	} else {
		ret = cli_target_select(t, &o->filter, &filter, &list);
		if (ret == CLI_OK)
			ret = snapshot_local(o, t, list, &filter, &info);
	}
	if (ret == CLI_OK) {
		char size[32], holes[32];
		printf("wrote %s: %zu regions, %s (%llu bytes), %s unreadable\n", o->output, info.regions,
		       cli_human_size(info.bytes, size, sizeof(size)), (unsigned long long)info.bytes,
		       cli_human_size(info.hole_bytes, holes, sizeof(holes)));
	}
	memscan_region_list_free(list);
	return ret;
}

int cmd_snapshot(int argc, char **argv)
{
	const uint32_t allowed = OPT_BIT(OPT_OUTPUT) | OPT_BIT(OPT_COMPRESS) | OPT_BIT(OPT_READ_ABSENT) |
	                         OPT_BIT(OPT_QUIET) | OPTS_FILTER;
	struct cli_target t = { 0 };
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "snapshot", allowed, 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos < 1) {
		cli_err("missing %s (usage: memscan %ssnapshot %s -o FILE)", cli_target_name(),
		        cli_remote_mode ? "remote " : "", cli_remote_mode ? "TARGET" : "PID");
		return CLI_USAGE;
	}
	ret = cli_target_check(o.pos[0]);
	if (ret != CLI_OK)
		return ret;
	if (!o.output) {
		cli_err("snapshot needs an output file: -o FILE (see 'memscan snapshot --help')");
		return CLI_USAGE;
	}
	ret = cli_target_open(&o, o.pos[0], &t);
	if (ret == CLI_OK)
		ret = snapshot_run(&o, &t);
	cli_target_close(&t);
	return ret;
}

/* ---- diff FILE_A FILE_B ------------------------------------------------------------------ */

/* Changed bytes `diff FILE FILE` keeps to print after the summary line that precedes them: a diff
 * larger than this is printed part by part from a second comparison of the files. */
#define DIFF_FILES_KEEP ((uint64_t)8 << 20)

static void diff_print(const struct cli_opts *o, const memscan_diff *diff, const char *time)
{
	if (!o->json)
		out_diff_summary(stdout, diff, time);
	out_diff(stdout, diff, o->json, o->bytes, time);
}

/* The parts of a file diff gathered into one diff while it stays under DIFF_FILES_KEEP. */
struct files_keep {
	memscan_diff *all; /* NULL once too large */
	int err;
};

static int keep_ranges(memscan_diff *all, const memscan_diff *part)
{
	const memscan_ranges *app = memscan_diff_appeared(part), *van = memscan_diff_vanished(part);
	int err = MEMSCAN_OK;

	for (size_t i = 0; err == MEMSCAN_OK && i < app->count; i++)
		err = memscan_diff_add_appeared(all, app->items[i]);
	for (size_t i = 0; err == MEMSCAN_OK && i < van->count; i++)
		err = memscan_diff_add_vanished(all, van->items[i]);
	for (int in_new = 0; in_new < 2; in_new++) {
		const memscan_ranges *out = memscan_diff_outside(part, in_new);

		for (size_t i = 0; err == MEMSCAN_OK && i < out->count; i++)
			err = memscan_diff_add_outside(all, out->items[i], in_new);
	}
	return err;
}

static int keep_part(void *ctx, const memscan_diff *part)
{
	struct files_keep *k = ctx;
	int err = MEMSCAN_OK;

	if (k->all &&
	    memscan_diff_changed_bytes(k->all) + memscan_diff_changed_bytes(part) > DIFF_FILES_KEEP) {
		memscan_diff_free(k->all);
		k->all = NULL;
	}
	for (size_t i = 0; k->all && err == MEMSCAN_OK && i < memscan_diff_run_count(part); i++) {
		memscan_change_run run = memscan_diff_run(part, i);
		err = memscan_diff_add_run(k->all, &run);
	}
	if (k->all && err == MEMSCAN_OK)
		err = keep_ranges(k->all, part);
	k->err = err;
	return err != MEMSCAN_OK;
}

static int print_part(void *ctx, const memscan_diff *part)
{
	const struct cli_opts *o = ctx;

	out_diff(stdout, part, o->json, o->bytes, NULL);
	return 0;
}

/* The two files' sizes together (the total of a pass's progress), 0 if either cannot be read (the
 * diff then says why). */
static uint64_t files_size(const struct cli_opts *o)
{
	struct stat a, b;

	if (stat(o->pos[0], &a) != 0 || stat(o->pos[1], &b) != 0)
		return 0;
	return (uint64_t)a.st_size + (uint64_t)b.st_size;
}

/* One pass over the files, its progress shown as WHAT unless QUIET. */
static int diff_files_pass(const struct cli_opts *o, const char *what, int quiet,
                           memscan_diff_part_fn on_part, void *ctx, memscan_diff_files_info *ret_info)
{
	struct cli_progress p;
	memscan_diff_files_options opt = { .progress = cli_progress_report, .progress_ctx = &p };
	int err;

	cli_progress_start_bytes(&p, what, files_size(o), quiet);
	err = memscan_diff_files_opts(o->pos[0], o->pos[1], &opt, on_part, ctx, ret_info);
	cli_progress_end(&p, NULL);
	return err;
}

/* Compares the files, printing what a loaded diff prints: the summary line first, so a diff too large
 * to keep is counted in a first pass and printed part by part in a second. */
static int diff_files_run(const struct cli_opts *o)
{
	struct files_keep k = { 0 };
	memscan_diff_files_info info;
	int err = memscan_diff_new(&k.all);

	if (err == MEMSCAN_OK)
		err = diff_files_pass(o, "diff", o->quiet, keep_part, &k, &info);
	if (err == MEMSCAN_ERR_STOPPED)
		err = k.err;
	if (err != MEMSCAN_OK) {
		memscan_diff_free(k.all);
		return cli_snapfile_err(err, "comparing the snapshots");
	}
	if (info.old_pid != info.new_pid)
		fprintf(stderr, "memscan: note: the snapshots are of different processes (PID %d and %d)\n",
		        info.old_pid, info.new_pid);
	if (k.all) {
		diff_print(o, k.all, NULL);
		memscan_diff_free(k.all);
		return CLI_OK;
	}
	if (!o->json)
		out_diff_summary_counts(stdout, info.runs, info.changed_bytes, info.appeared, info.vanished,
		                        info.outside_old + info.outside_new, NULL);
	/* the second pass prints as it goes: its progress only when that goes elsewhere than a terminal */
	fflush(stdout);
	err = diff_files_pass(o, "diff (printing)", o->quiet || isatty(STDOUT_FILENO), print_part, (void *)o,
	                      NULL);
	return err == MEMSCAN_OK ? CLI_OK : cli_snapfile_err(err, "comparing the snapshots");
}

static int diff_files(const struct cli_opts *o)
{
	if (o->seen & (OPT_BIT(OPT_INTERVAL) | OPT_BIT(OPT_WATCH) | OPT_BIT(OPT_COUNT) |
	               OPT_BIT(OPT_READ_ABSENT) | OPT_BIT(OPT_STATS) | OPT_BIT(OPT_CELL) | OPTS_FILTER)) {
		cli_err(
		    "--interval, --watch, --count, --stats, --cell, --read-absent and filters apply to 'diff "
		    "PID' only, not to two files");
		return CLI_USAGE;
	}
	return diff_files_run(o);
}

/* ---- diff PID ---------------------------------------------------------------------------- */

struct watch {
	const struct cli_opts *o;
	struct cli_target t;
	struct cli_watch cw;
	uint64_t batch;
	memscan_heat *heat; /* --stats: where memory changed, batch by batch */
	struct timespec start;
};

/* Cells and regions the --stats summary lists. */
#define STATS_TOP 10

static void watch_header_json(const struct watch *w, const memscan_diff *diff, const char *time)
{
	printf("{\"time\":\"%s\",\"batch\":%llu,\"runs\":%zu,\"changed_bytes\":%llu}\n", time,
	       (unsigned long long)w->batch, memscan_diff_run_count(diff),
	       (unsigned long long)memscan_diff_changed_bytes(diff));
}

/* One batch: compares with the baseline and prints; when watching, what was read becomes the
 * baseline, so every change shows in exactly one batch. */
static int watch_batch(struct watch *w)
{
	memscan_diff *diff = NULL;
	char time[40];
	int err;

	err = cli_watch_detect(&w->cw, w->o->watch, &diff);
	if (err == MEMSCAN_ERR_CANCELLED && w->o->watch)
		return CLI_OK; /* stopped while reading: --watch ends cleanly, as between batches */
	if (err != MEMSCAN_OK)
		return cli_target_err(&w->t, err, "comparing memory");
	if (w->heat)
		err = memscan_heat_add(w->heat, diff, w->cw.list, 0);
	if (err != MEMSCAN_OK) {
		memscan_diff_free(diff);
		return cli_lib_err(err, 0, "counting the changes (use a larger --cell)");
	}
	w->batch++;
	out_timestamp(time, sizeof(time));
	if (w->o->watch && w->o->json)
		watch_header_json(w, diff, time);
	diff_print(w->o, diff, w->o->watch ? time : NULL);
	if (w->o->watch)
		fflush(stdout);
	memscan_diff_free(diff);
	return CLI_OK;
}

static int watch_loop(struct watch *w)
{
	const struct cli_opts *o = w->o;
	int ret = CLI_OK;

	for (;;) {
		sleep_ms(o->interval_ms);
		if (cli_cancelled())
			return o->watch ? CLI_OK
			                : cli_lib_err(MEMSCAN_ERR_CANCELLED, 0, "waiting for the interval");
		ret = watch_batch(w);
		if (ret != CLI_OK || !o->watch || cli_cancelled())
			break;
		if (o->count && w->batch >= o->count)
			break;
	}
	return ret;
}

/* The --stats summary: what the batches counted, over the time since the baseline. */
static int watch_stats(const struct watch *w)
{
	struct timespec now;
	struct cli_stats s;
	uint64_t ms;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (uint64_t)(now.tv_sec - w->start.tv_sec) * 1000 + (uint64_t)(now.tv_nsec / 1000000) -
	     (uint64_t)(w->start.tv_nsec / 1000000);
	err = cli_stats_collect(&s, w->heat, ms);
	if (err != MEMSCAN_OK)
		return cli_lib_err(err, 0, "collecting the statistics");
	if (w->o->json)
		cli_stats_print_json(stdout, &s, STATS_TOP);
	else
		cli_stats_print_text(stdout, &s, STATS_TOP);
	cli_stats_release(&s);
	return CLI_OK;
}

/* --stats and --cell: with --watch, on a local process. */
static int stats_check(const struct cli_opts *o)
{
	if (o->stats && (!o->watch || cli_remote_mode)) {
		cli_err("--stats applies to a local 'diff PID --watch' only");
		return CLI_USAGE;
	}
	if ((o->seen & OPT_BIT(OPT_CELL)) && !o->stats) {
		cli_err("--cell applies to --stats only");
		return CLI_USAGE;
	}
	if (o->cell & (o->cell - 1)) {
		cli_err("invalid --cell %llu: a cell size is a power of two (e.g. 64, 4K, 1M)",
		        (unsigned long long)o->cell);
		return CLI_USAGE;
	}
	return CLI_OK;
}

static int diff_pid(const struct cli_opts *o)
{
	struct watch w = { .o = o };
	memscan_region_list *list = NULL;
	memscan_filter filter;
	int ret, err;

	if (o->count && !o->watch) {
		cli_err("--count applies to --watch only");
		return CLI_USAGE;
	}
	ret = stats_check(o);
	if (ret == CLI_OK)
		ret = cli_target_check(o->pos[0]);
	if (ret == CLI_OK)
		ret = cli_target_open(o, o->pos[0], &w.t);
	if (ret == CLI_OK)
		ret = cli_target_need_process(
		    &w.t, "diff PID watches a running process, and a snapshot file does not change: to "
		          "compare two snapshots, memscan diff FILE_A FILE_B");
	/* listing first reports a bad filter or an unreadable map before any baseline is taken */
	if (ret == CLI_OK)
		ret = cli_target_select(&w.t, &o->filter, &filter, &list);
	if (ret != CLI_OK)
		goto out;
	if (o->stats) {
		memscan_heat_options ho = { .cell_size = o->cell };
		err = memscan_heat_new(&ho, &w.heat);
		if (err != MEMSCAN_OK) {
			ret = cli_lib_err(err, 0, "starting the statistics");
			goto out;
		}
	}
	err = cli_watch_begin(&w.cw, &w.t, &filter);
	clock_gettime(CLOCK_MONOTONIC, &w.start);
	if (err != MEMSCAN_OK) {
		ret = cli_target_err(&w.t, err, "taking the baseline snapshot");
		goto out;
	}
	if (o->watch)
		cli_cancel_install(); /* a remote --watch too: the loop stops after the batch in progress */
	ret = watch_loop(&w);
	if (w.heat)
		ret = watch_stats(&w) == CLI_OK ? ret : CLI_FAIL;
out:
	memscan_heat_free(w.heat);
	cli_watch_end(&w.cw);
	memscan_region_list_free(list);
	cli_target_close(&w.t);
	return ret;
}

int cmd_diff(int argc, char **argv)
{
	const uint32_t allowed = OPT_BIT(OPT_JSON) | OPT_BIT(OPT_BYTES) | OPT_BIT(OPT_INTERVAL) |
	                         OPT_BIT(OPT_WATCH) | OPT_BIT(OPT_COUNT) | OPT_BIT(OPT_READ_ABSENT) |
	                         OPT_BIT(OPT_COMPRESS) | OPT_BIT(OPT_STATS) | OPT_BIT(OPT_CELL) |
	                         OPT_BIT(OPT_QUIET) | OPTS_FILTER;
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "diff", allowed, 2, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos == 0) {
		cli_err("diff needs a PID or two snapshot files (see 'memscan diff --help')");
		return CLI_USAGE;
	}
	if (o.npos == 2 && cli_remote_mode) {
		cli_err(
		    "remote diff takes one TARGET; to compare two snapshot files use 'memscan diff FILE_A "
		    "FILE_B'");
		return CLI_USAGE;
	}
	return o.npos == 2 ? diff_files(&o) : diff_pid(&o);
}
