/* SPDX-License-Identifier: MIT */
/* Sizes for people ("1.5 GiB") and progress lines on a terminal's stderr. */
#include "progress.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *cli_human_size(uint64_t bytes, char *buf, size_t size)
{
	return memscan_size_format(bytes, buf, size);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* "3.2 s", "4 min 10 s": the time left at the rate so far. */
static void format_eta(double s, char *buf, size_t size)
{
	uint64_t whole = (uint64_t)s;

	if (s < 60)
		snprintf(buf, size, "%.1f s", s);
	else
		snprintf(buf, size, "%" PRIu64 " min %02" PRIu64 " s", whole / 60, whole % 60);
}

/* Draws the line of a percentage in parts for SHOWN (at most P->total; P->lock held). */
static void draw_parts(struct cli_progress *p, uint64_t shown)
{
	uint64_t share = p->total / p->parts ? p->total / p->parts : 1;
	uint64_t part = shown / share < p->parts ? shown / share : p->parts - 1;

	fprintf(stderr, "\rmemscan: %s, %s %" PRIu64 " of %u (%u%%)\033[K", p->what, p->part, part + 1,
	        p->parts, (unsigned)((double)shown * 100 / (double)p->total));
}

/* Draws the line for DONE (P->lock held). */
static void draw(struct cli_progress *p, uint64_t done)
{
	/* libmemscan counts the bytes some reads cover twice (a scan's overlap at chunk edges, a unit
	 * scanned again): never more than there is */
	uint64_t shown = p->total && done > p->total ? p->total : done;
	double t = seconds_since(&p->start), rate = t > 0 ? (double)shown / t : 0;
	char d[32], tot[32], r[32], eta[32] = "?", failed[40] = "";
	unsigned pct = p->total ? (unsigned)((double)shown * 100 / (double)p->total) : 0;

	if (rate > 0 && shown <= p->total)
		format_eta((double)(p->total - shown) / rate, eta, sizeof(eta));
	if (p->parts && p->total)
		draw_parts(p, shown);
	else if (p->bytes && !p->total) /* how much there is to do is not known here */
		fprintf(stderr, "\rmemscan: %s %s, %s/s\033[K", p->what, cli_human_size(shown, d, sizeof(d)),
		        cli_human_size((uint64_t)rate, r, sizeof(r)));
	else if (p->bytes)
		fprintf(stderr, "\rmemscan: %s %s of %s (%u%%), %s/s, ETA %s\033[K", p->what,
		        cli_human_size(shown, d, sizeof(d)), cli_human_size(p->total, tot, sizeof(tot)), pct,
		        cli_human_size((uint64_t)rate, r, sizeof(r)), eta);
	else {
		if (p->failed)
			snprintf(failed, sizeof(failed), ", %" PRIu64 " failed", p->failed);
		fprintf(stderr, "\rmemscan: %s %" PRIu64 " of %" PRIu64 " (%u%%)%s, ETA %s\033[K", p->what,
		        shown, p->total, pct, failed, eta);
	}
	fflush(stderr);
	p->drawn = 1;
}

void cli_progress_report_total(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress *p = ctx;

	if (pthread_mutex_trylock(&p->lock) != 0)
		return; /* another thread is drawing: this report is skipped */
	if (total)
		p->total = total; /* the library's: what its call counts up to */
	draw(p, done);
	pthread_mutex_unlock(&p->lock);
}

static void on_progress(void *ctx, uint64_t done)
{
	cli_progress_report_total(ctx, done, 0);
}

int cli_progress_shown(int quiet)
{
	return !quiet && isatty(STDERR_FILENO);
}

static void progress_init(struct cli_progress *p, const char *what, uint64_t total, int bytes, int quiet)
{
	memset(p, 0, sizeof(*p));
	p->what = what;
	p->total = total;
	p->bytes = bytes;
	p->on = cli_progress_shown(quiet);
	pthread_mutex_init(&p->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &p->start);
}

void cli_progress_start(struct cli_progress *p, memscan_process *proc, const char *what, uint64_t total,
                        int quiet)
{
	progress_init(p, what, total, 1, quiet);
	if (p->on && memscan_process_set_progress(proc, on_progress, p) != MEMSCAN_OK)
		p->on = 0; /* no progress then: the work goes on */
}

void cli_progress_start_client(struct cli_progress *p, memscan_client *client, const char *what,
                               uint64_t total, int quiet)
{
	progress_init(p, what, total, 1, quiet);
	if (p->on && memscan_client_set_progress_total(client, cli_progress_report_total, p) != MEMSCAN_OK)
		p->on = 0;
}

void cli_progress_end_client(struct cli_progress *p, memscan_client *client)
{
	if (p->on && memscan_client_set_progress_total(client, NULL, NULL) != MEMSCAN_OK)
		p->on = 0; /* cannot fail when detaching */
	cli_progress_end(p, NULL);
}

void cli_progress_start_bytes(struct cli_progress *p, const char *what, uint64_t total, int quiet)
{
	progress_init(p, what, total, 1, quiet);
}

void cli_progress_report(void *ctx, uint64_t done)
{
	struct cli_progress *p = ctx;

	if (p->on)
		on_progress(p, done);
}

void cli_progress_start_steps(struct cli_progress *p, const char *what, uint64_t total, int quiet)
{
	progress_init(p, what, total, 0, quiet);
}

void cli_progress_step(struct cli_progress *p, uint64_t done)
{
	cli_progress_report(p, done);
}

void cli_progress_step_failed(struct cli_progress *p, uint64_t done, uint64_t failed)
{
	p->failed = failed;
	cli_progress_report(p, done);
}

void cli_progress_hide(struct cli_progress *p)
{
	pthread_mutex_lock(&p->lock);
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_start_parts(struct cli_progress *p, const char *what, uint64_t total, unsigned parts,
                              const char *part, int quiet)
{
	progress_init(p, what, total, 0, quiet);
	p->parts = parts ? parts : 1;
	p->part = part;
}

void cli_progress_end(struct cli_progress *p, memscan_process *proc)
{
	if (p->on && proc && memscan_process_set_progress(proc, NULL, NULL) != MEMSCAN_OK)
		p->on = 0; /* cannot fail when detaching */
	cli_progress_hide(p);
	pthread_mutex_destroy(&p->lock);
}
