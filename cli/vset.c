/* SPDX-License-Identifier: MIT */
/* Candidate sets of the CLI's value commands, held by libmemscan in this process. */
#include "vset.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cancel.h"
#include "output.h"
#include "progress.h"

int cli_vset_scan(struct cli_target *t, const struct cli_vregions *r, const struct cli_vquery *q,
                  const memscan_value_scan_options *opts, struct cli_vset *ret)
{
	if (t->client)
		return cli_vset_remote_scan(t, r, q, opts, ret);
	memset(ret, 0, sizeof(*ret));
	struct cli_progress prog;
	int err;

	ret->t = t;
	cli_progress_start(&prog, t->proc, "scan", memscan_region_list_bytes(r->list), t->quiet);
	if (!q->value)
		err = memscan_value_scan_unknown(t->proc, r->list, q->type, opts, &ret->local);
	else
		err = memscan_value_scan(t->proc, r->list, q->value, opts, &ret->local);
	cli_progress_end(&prog, t->proc);
	return err;
}

uint64_t cli_vset_narrow_max(const struct cli_vset *set)
{
	uint64_t n = cli_vset_count(set);

	/* a narrowing keeps at most the set's own candidates (an unknown set's slots) */
	if (n < MEMSCAN_VALUE_SET_MAX_DEFAULT)
		return MEMSCAN_VALUE_SET_MAX_DEFAULT;
	return n < MEMSCAN_VALUE_SET_MAX ? n : MEMSCAN_VALUE_SET_MAX;
}

int cli_vset_narrow(const struct cli_vset *set, const struct cli_vpred *p, uint64_t max, struct cli_vset *ret)
{
	struct cli_progress prog;
	int err;

	if (!max)
		max = cli_vset_narrow_max(set);
	if (set->remote.id)
		return cli_vset_remote_narrow(set, p, max, ret);
	memset(ret, 0, sizeof(*ret));
	ret->t = set->t;
	/* what libmemscan reads, and its progress counts: an unknown set's regions (its slots overlap
	 * when aligned below their width), or the pages holding candidates */
	cli_progress_start(&prog, set->t->proc, "narrow",
	                   cli_progress_shown(set->t->quiet) ? memscan_value_set_narrow_bytes(set->local) : 0,
	                   set->t->quiet);
	err = memscan_value_set_narrow(set->t->proc, set->local, &p->pred, max, &ret->local);
	cli_progress_end(&prog, set->t->proc);
	return err;
}

int cli_vset_foreach(const struct cli_vset *set, uint64_t first, memscan_candidate_fn fn, void *ctx)
{
	if (set->remote.id)
		return cli_vset_remote_foreach(set, first, fn, ctx);
	return memscan_value_set_foreach(set->local, first, fn, ctx);
}

uint64_t cli_vset_count(const struct cli_vset *set)
{
	return set->remote.id ? set->remote.count : memscan_value_set_count(set->local);
}

memscan_value_type cli_vset_type(const struct cli_vset *set)
{
	return set->remote.id ? set->remote.type : memscan_value_set_type(set->local);
}

size_t cli_vset_width(const struct cli_vset *set)
{
	return set->remote.id ? set->remote.width : memscan_value_set_width(set->local);
}

int cli_vset_is_unknown(const struct cli_vset *set)
{
	return set->remote.id ? set->remote.unknown : memscan_value_set_is_unknown(set->local);
}

int cli_vset_save(struct cli_vset *set, const char *path)
{
	if (set->remote.id)
		return cli_vset_remote_save(set, path);
	return memscan_value_set_save(set->local, path);
}

int cli_vset_regions(const struct cli_vset *set, memscan_region_list **ret)
{
	return cli_target_regions(set->t, NULL, ret);
}

void cli_vset_free(struct cli_vset *set)
{
	if (set->remote.id)
		cli_vset_remote_free(set);
	memscan_value_set_free(set->local);
	set->local = NULL;
}

/* TICKS (clock ticks since boot, as /proc/PID/stat counts a start time) as UTC text into BUF. */
static void format_start_time(uint64_t ticks, char *buf, size_t size)
{
	unsigned long long btime = 0;
	long hz = sysconf(_SC_CLK_TCK);
	char line[256];
	FILE *f = fopen("/proc/stat", "re");
	struct tm tm;
	time_t when;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %llu", &btime) == 1)
			break;
	if (f)
		fclose(f);
	if (!btime || hz <= 0) {
		snprintf(buf, size, "%llu clock ticks after boot", (unsigned long long)ticks);
		return;
	}
	when = (time_t)(btime + ticks / (uint64_t)hz);
	gmtime_r(&when, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static int load_err(const char *path, int err)
{
	switch (err) {
	case MEMSCAN_ERR_TRUNCATED:
		cli_err(
		    "set file '%s' is truncated (it ends early): make it again with 'memscan scan ... -o'",
		    path);
		break;
	case MEMSCAN_ERR_UNSUPPORTED_VERSION:
		cli_err("set file '%s' is of a format version this memscan cannot read: make it again with "
		        "this version's 'memscan scan ... -o'",
		        path);
		break;
	case MEMSCAN_ERR_BAD_FORMAT:
		cli_err("set file '%s' is corrupt or not a set file (a field or its checksum is wrong): make "
		        "it again with 'memscan scan ... -o'",
		        path);
		break;
	case MEMSCAN_ERR_IO:
		cli_err("cannot read set file '%s': %s", path, strerror(errno));
		break;
	default:
		return cli_lib_err(err, 0, "loading the set file");
	}
	return CLI_FAIL;
}

/* Opens the process SET was made from into T; says so if it exited or its PID now names another. */
static int open_set_process(const struct cli_opts *o, memscan_value_set *set, struct cli_target *t)
{
	int pid = memscan_value_set_pid(set), err;
	char made[64], now[64];

	t->pid = pid;
	err = memscan_process_open(pid, &t->proc);
	if (err == MEMSCAN_OK && o->read_absent)
		err = memscan_process_set_skip_absent(t->proc, 0);
	if (err == MEMSCAN_OK)
		err = cli_cancel_attach(t->proc);
	format_start_time(memscan_value_set_start_time(set), made, sizeof(made));
	if (err == MEMSCAN_ERR_NO_PROCESS || err == MEMSCAN_ERR_PROCESS_GONE) {
		cli_err("PID %d has exited (the set was made from a process started at %s): scan the "
		        "process again",
		        pid, made);
		return CLI_FAIL;
	}
	if (err != MEMSCAN_OK)
		return cli_lib_err(err, pid, "opening the set's process");
	if (memscan_process_start_time(t->proc) != memscan_value_set_start_time(set)) {
		format_start_time(memscan_process_start_time(t->proc), now, sizeof(now));
		cli_err("PID %d has exited (the set was made from a process started at %s; PID %d is now "
		        "another process, started at %s): scan the process again",
		        pid, made, pid, now);
		return CLI_FAIL;
	}
	return CLI_OK;
}

int cli_vset_open(const struct cli_opts *o, const char *path, struct cli_target *t, struct cli_vset *ret)
{
	int err, rc;

	if (memscan_client_vset_ref_probe(path))
		return cli_vset_remote_open(o, path, t, ret);
	memset(t, 0, sizeof(*t));
	memset(ret, 0, sizeof(*ret));
	t->quiet = o->quiet;
	err = memscan_value_set_load(path, &ret->local);
	if (err != MEMSCAN_OK)
		return load_err(path, err);
	ret->t = t;
	rc = open_set_process(o, ret->local, t);
	if (rc != CLI_OK) {
		cli_vset_free(ret);
		cli_target_close(t);
	}
	return rc;
}
