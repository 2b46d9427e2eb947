/* SPDX-License-Identifier: MIT */
/* memscan heatmap: samples a process for a while and shows where its memory changed (SVG, JSON, text). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cancel.h"
#include "cmd.h"
#include "output.h"
#include "progress.h"
#include "stats.h"
#include "svg.h"
#include "target.h"

#define HEATMAP_DURATION_MS 10000
#define HEATMAP_INTERVAL_MS 100
/* Time columns of the picture at most: columns group samples beyond it. */
#define HEATMAP_BINS 120
/* Samples at most: about a day at the shortest interval. */
#define HEATMAP_SAMPLES_MAX 1000000
/* Cells and regions the text output lists. */
#define HEATMAP_TOP 10
/* A remote heat lives in the agent session of this connection, which ends after 15 minutes, or after
 * 5 without a request (docs/protocol.md): the longest watch and interval that fit, with room for the
 * start and the fetch of the counts. */
#define HEATMAP_REMOTE_DURATION_MS (14u * 60 * 1000)
#define HEATMAP_REMOTE_INTERVAL_MS (4u * 60 * 1000)

/* Counted here (HEAT, fed by a watch) or on an agent (REMOTE, the client only times the samples). */
struct heatmap {
	const struct cli_opts *o;
	struct cli_target t;
	struct cli_watch cw;
	memscan_heat *heat;
	memscan_client_heat remote;
	memscan_client_heat_stats remote_stats;
	uint64_t samples, per_bin, elapsed_ms;
};

/* Samples counted so far. */
static uint64_t heatmap_counted(const struct heatmap *h)
{
	return h->t.client ? h->remote_stats.samples : memscan_heat_samples(h->heat);
}

/* One sample, counted in time bin BIN. */
static int heatmap_step(struct heatmap *h, uint32_t bin)
{
	memscan_diff *diff = NULL;
	int err;

	if (h->t.client) {
		memscan_client_heat_stats st;

		err = memscan_client_heat_sample(h->t.client, h->remote.id, bin, &st);
		if (err == MEMSCAN_OK)
			h->remote_stats = st; /* a failed sample leaves the totals of those before it */
		return err;
	}
	err = cli_watch_detect(&h->cw, 1, &diff);
	if (err == MEMSCAN_OK)
		err = memscan_heat_add(h->heat, diff, h->cw.list, bin);
	memscan_diff_free(diff);
	return err;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleeps until the monotonic clock reads DEADLINE (ms), returning early on SIGINT or SIGTERM. */
static void sleep_until(uint64_t deadline)
{
	uint64_t now = now_ms();
	struct timespec ts;

	if (now >= deadline)
		return;
	ts.tv_sec = (time_t)((deadline - now) / 1000);
	ts.tv_nsec = (long)((deadline - now) % 1000) * 1000000L;
	while (!cli_cancelled() && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Samples until the duration is over or a signal stops it (what was counted is kept). */
static int heatmap_sample(struct heatmap *h)
{
	uint64_t start = now_ms();
	struct cli_progress p;
	int err = MEMSCAN_OK;

	cli_progress_start_steps(&p, "heatmap sample", h->samples, h->o->quiet);
	for (uint64_t s = 0; s < h->samples && !cli_cancelled(); s++) {
		sleep_until(start + (s + 1) * h->o->interval_ms);
		if (cli_cancelled())
			break;
		err = heatmap_step(h, (uint32_t)(s / h->per_bin));
		if (err != MEMSCAN_OK)
			break;
		cli_progress_step(&p, s + 1);
	}
	cli_progress_end(&p, NULL);
	h->elapsed_ms = now_ms() - start;
	if (err == MEMSCAN_ERR_CANCELLED)
		return MEMSCAN_OK; /* stopped while reading: show what was counted */
	return err;
}

static int heatmap_write_svg(const struct heatmap *h, const struct cli_stats *s)
{
	struct svg_heatmap_info info = { h->t.pid, h->o->interval_ms, h->per_bin };
	FILE *f = fopen(h->o->output, "w");
	int ret;

	if (!f) {
		cli_err("cannot write '%s': %s", h->o->output, strerror(errno));
		return CLI_FAIL;
	}
	ret = svg_heatmap_write(f, s, &info);
	if (fclose(f) != 0 && ret == CLI_OK) {
		cli_err("cannot write '%s': %s", h->o->output, strerror(errno));
		ret = CLI_FAIL;
	}
	return ret;
}

static int heatmap_report(struct heatmap *h)
{
	struct cli_stats s;
	int ret = CLI_OK, err;

	if (h->t.client)
		err = cli_stats_collect_remote(&s, h->t.client, &h->remote, h->elapsed_ms);
	else
		err = cli_stats_collect(&s, h->heat, h->elapsed_ms);
	if (err != MEMSCAN_OK)
		return cli_target_err(&h->t, err, "collecting the counts");
	if (h->o->output)
		ret = heatmap_write_svg(h, &s);
	if (ret == CLI_OK && h->o->json)
		cli_stats_print_cells_json(stdout, &s);
	else if (ret == CLI_OK && h->o->output)
		printf("wrote %s: %zu cells changed in %zu regions over %llu samples\n", h->o->output,
		       s.ncells, s.nregions, (unsigned long long)s.samples);
	else if (ret == CLI_OK)
		cli_stats_print_text(stdout, &s, HEATMAP_TOP);
	cli_stats_release(&s);
	return ret;
}

/* The heat kept on the agent: the progress line counts the baseline the agent reads (of the total it
 * reports), and Ctrl-C stops it. */
static int heatmap_start_remote(struct heatmap *h, const memscan_filter *filter,
                                const memscan_heat_options *ho)
{
	struct cli_progress p;
	int err = cli_cancel_attach_client(h->t.client);

	if (err != MEMSCAN_OK)
		return err;
	/* the user's --quiet: the target's is set to keep the samples' reads quiet */
	cli_progress_start_client(&p, h->t.client, "baseline", 0, h->o->quiet);
	err = memscan_client_heat_start(h->t.client, h->t.pid, filter, ho, &h->remote);
	cli_progress_end_client(&p, h->t.client);
	return err;
}

static int heatmap_run(struct heatmap *h)
{
	const struct cli_opts *o = h->o;
	memscan_heat_options ho = { .cell_size = o->cell };
	memscan_region_list *list = NULL;
	memscan_filter filter;
	int ret, err;

	/* listed first: a bad filter is reported before any sampling */
	ret = cli_target_select(&h->t, &o->filter, &filter, &list);
	if (ret != CLI_OK) {
		memscan_region_list_free(list);
		return ret;
	}
	ho.bins = (uint32_t)((h->samples + h->per_bin - 1) / h->per_bin);
	if (h->t.client) /* the agent keeps the baseline and the counts */
		err = heatmap_start_remote(h, &filter, &ho);
	else
		err = memscan_heat_new(&ho, &h->heat);
	memscan_region_list_free(list);
	if (err == MEMSCAN_OK && !h->t.client)
		err = cli_watch_begin(&h->cw, &h->t, &filter);
	if (err != MEMSCAN_OK)
		return cli_target_err(&h->t, err, "taking the baseline snapshot");
	cli_cancel_install();
	err = heatmap_sample(h);
	if (err == MEMSCAN_ERR_LIMIT) {
		cli_err("more than %llu cells changed: use larger cells (--cell) or fewer regions (filters)",
		        (unsigned long long)(h->t.client ? h->remote.max_cells : MEMSCAN_HEAT_CELLS_DEFAULT));
		return CLI_FAIL;
	}
	if (err == MEMSCAN_ERR_PROCESS_GONE && heatmap_counted(h) > 0) {
		/* what was counted until then is still worth showing; the exit status says it ended early */
		heatmap_report(h);
		cli_err("PID %d exited after %llu of %llu samples; the counts above are of those", h->t.pid,
		        (unsigned long long)heatmap_counted(h), (unsigned long long)h->samples);
		return CLI_FAIL;
	}
	if (err != MEMSCAN_OK)
		return cli_target_err(&h->t, err, "comparing memory");
	return heatmap_report(h);
}

/* Defaults and checks of the timing and cell options. */
static int heatmap_check(struct cli_opts *o, struct heatmap *h)
{
	if (!(o->seen & OPT_BIT(OPT_INTERVAL)))
		o->interval_ms = HEATMAP_INTERVAL_MS;
	if (!(o->seen & OPT_BIT(OPT_DURATION)))
		o->duration_ms = HEATMAP_DURATION_MS;
	if (!o->cell)
		o->cell = 4096;
	if (o->interval_ms == 0 || o->duration_ms < o->interval_ms) {
		cli_err(
		    "--interval must be above 0 and --duration at least one interval (e.g. --duration 10s "
		    "--interval 100ms)");
		return CLI_USAGE;
	}
	if (cli_remote_mode &&
	    (o->duration_ms > HEATMAP_REMOTE_DURATION_MS || o->interval_ms > HEATMAP_REMOTE_INTERVAL_MS)) {
		cli_err(
		    "remote heatmap: --duration is at most 14m and --interval at most 4m (the agent keeps "
		    "the counts in this connection's session, which ends after 15 minutes, or 5 idle)");
		return CLI_USAGE;
	}
	if (o->cell & (o->cell - 1)) {
		cli_err("invalid --cell %llu: a cell size is a power of two (e.g. 64, 4K, 1M)",
		        (unsigned long long)o->cell);
		return CLI_USAGE;
	}
	h->samples = o->duration_ms / o->interval_ms;
	if (h->samples > HEATMAP_SAMPLES_MAX) {
		cli_err("--duration / --interval is more than %d samples: sample less often",
		        HEATMAP_SAMPLES_MAX);
		return CLI_USAGE;
	}
	h->per_bin = (h->samples + HEATMAP_BINS - 1) / HEATMAP_BINS;
	return CLI_OK;
}

int cmd_heatmap(int argc, char **argv)
{
	const uint32_t allowed = OPT_BIT(OPT_JSON) | OPT_BIT(OPT_OUTPUT) | OPT_BIT(OPT_INTERVAL) |
	                         OPT_BIT(OPT_DURATION) | OPT_BIT(OPT_CELL) | OPT_BIT(OPT_READ_ABSENT) |
	                         OPT_BIT(OPT_QUIET) | OPTS_FILTER;
	struct heatmap h = { 0 };
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "heatmap", allowed, 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos < 1) {
		cli_err("missing PID (usage: memscan heatmap PID --duration 10s -o FILE.svg)");
		return CLI_USAGE;
	}
	ret = heatmap_check(&o, &h);
	if (ret != CLI_OK)
		return ret;
	h.o = &o;
	ret = cli_target_open(&o, o.pos[0], &h.t);
	if (ret == CLI_OK)
		ret = cli_target_need_process(
		    &h.t, "heatmap samples a running process, and a snapshot file does not change");
	h.t.quiet = 1; /* one line counts the samples, not one per read */
	if (ret == CLI_OK)
		ret = heatmap_run(&h);
	if (h.remote.id) {
		int err = memscan_client_heat_release(h.t.client, h.remote.id);
		(void)err; /* nothing to do about it: the heat ends with the session */
	}
	cli_watch_end(&h.cw);
	memscan_heat_free(h.heat);
	cli_target_close(&h.t);
	return ret;
}
