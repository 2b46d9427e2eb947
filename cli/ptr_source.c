/* SPDX-License-Identifier: MIT */
/* memscan CLI: the sources of pointers and resolve: a PID, a snapshot file or a remote target. */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <memscan/memscan.h>

#include "cancel.h"
#include "cmd.h"
#include "output.h"
#include "progress.h"
#include "ptr_source.h"

static int is_number(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return *s != 0;
}

/* Loads the snapshot file S->text of SIZE bytes: a line against SIZE unless QUIET; Ctrl-C stops it
 * (CLI_FAIL, "interrupted while loading the snapshot", which the exit code then reports). */
static int source_load(struct ptr_source *s, uint64_t size, int quiet)
{
	char what[PATH_MAX + 16];
	struct cli_progress p;
	memscan_hooks h = { cli_cancel_ask, NULL, cli_progress_report, &p };
	int err;

	cli_cancel_install();
	snprintf(what, sizeof(what), "loading %s", s->text);
	cli_progress_start_bytes(&p, what, size, quiet);
	err = memscan_snapshot_load_hooked(s->text, &h, &s->snap);
	cli_progress_end(&p, NULL);
	if (err == MEMSCAN_ERR_CANCELLED)
		return cli_lib_err(err, 0, "loading the snapshot");
	if (err != MEMSCAN_OK)
		cli_err("cannot load snapshot %s: %s", s->text, memscan_strerror(err));
	return err == MEMSCAN_OK ? CLI_OK : CLI_FAIL;
}

int ptr_source_open(struct ptr_source *s, const char *text, const char *identity, int quiet)
{
	struct cli_opts co = { .identity = identity };
	struct stat st;
	int err;

	memset(s, 0, sizeof(*s));
	s->text = text;
	if (cli_remote_mode) {
		s->remote = 1;
		err = cli_target_open(&co, text, &s->t);
		s->pid = s->t.pid;
		return err;
	}
	if (!is_number(text)) {
		if (stat(text, &st) != 0 || !S_ISREG(st.st_mode)) {
			cli_err("'%s' is neither a PID nor a snapshot file (take one with 'memscan snapshot "
			        "PID -o "
			        "FILE')",
			        text);
			return CLI_USAGE;
		}
		return source_load(s, (uint64_t)st.st_size, quiet);
	}
	if (cli_parse_pid(text, &s->pid) != CLI_OK)
		return CLI_USAGE;
	err = memscan_process_open(s->pid, &s->proc);
	if (err == MEMSCAN_OK)
		err = cli_cancel_attach(s->proc);
	return err == MEMSCAN_OK ? CLI_OK : cli_lib_err(err, s->pid, "opening");
}

/* A snapshot of the source: the file's, or one taken now of the process's readable regions (a
 * progress line against their bytes unless QUIET). */
int ptr_source_snapshot(struct ptr_source *s, int quiet)
{
	memscan_region_list *list = NULL;
	struct cli_progress p;
	memscan_filter f;
	int err;

	if (s->snap)
		return CLI_OK;
	memscan_filter_default(&f);
	err = memscan_regions_read(s->proc, &f, &list);
	if (err == MEMSCAN_OK) {
		cli_progress_start(&p, s->proc, "reading memory", memscan_region_list_bytes(list), quiet);
		err = memscan_snapshot_take(s->proc, list, &s->snap);
		cli_progress_end(&p, s->proc);
	}
	memscan_region_list_free(list);
	return err == MEMSCAN_OK ? CLI_OK : cli_lib_err(err, s->pid, "reading the memory");
}

void ptr_source_close(struct ptr_source *s)
{
	if (s->remote)
		cli_target_close(&s->t);
	memscan_snapshot_free(s->snap);
	memscan_process_free(s->proc);
}

/* Whether ADDR lies in a region of the source (the snapshot's, or the process's readable ones). */
static int source_maps(struct ptr_source *s, uint64_t addr)
{
	memscan_region_list *list = NULL;
	memscan_filter f;
	int found = 0;

	if (s->snap) {
		for (size_t i = 0; i < memscan_snapshot_region_count(s->snap) && !found; i++) {
			memscan_snapshot_region r = memscan_snapshot_get(s->snap, i);

			found = addr >= r.region.start && addr < r.region.end;
		}
		return found;
	}
	memscan_filter_default(&f);
	if ((s->remote ? cli_target_regions(&s->t, &f, &list) : memscan_regions_read(s->proc, &f, &list)) !=
	    MEMSCAN_OK)
		return 1; /* let the operation itself report what is wrong */
	found = memscan_region_list_find(list, addr) != SIZE_MAX;
	memscan_region_list_free(list);
	return found;
}

int ptr_source_check_mapped(struct ptr_source *s, uint64_t addr)
{
	if (source_maps(s, addr))
		return CLI_OK;
	cli_err("address 0x%" PRIx64 " is not mapped in %s %s (find the value's address with 'memscan scan')",
	        addr,
	        s->snap     ? "snapshot"
	        : s->remote ? "TARGET"
	                    : "PID",
	        s->text);
	return CLI_USAGE;
}

/* LEN bytes at ADDR of the source into BUF: OK, or an error. */
int ptr_source_read(struct ptr_source *s, uint64_t addr, uint8_t *buf, size_t len)
{
	if (s->remote)
		return cli_target_read(&s->t, addr, buf, len, NULL);
	if (s->proc)
		return memscan_read(s->proc, addr, buf, len, NULL);
	for (size_t i = 0; i < memscan_snapshot_region_count(s->snap); i++) {
		memscan_snapshot_region r = memscan_snapshot_get(s->snap, i);

		if (addr < r.region.start || addr >= r.region.end)
			continue;
		if (r.region.end - addr < len)
			len = (size_t)(r.region.end - addr); /* strings end at the region's end */
		for (size_t k = 0; k < len; k++)
			if (memscan_ranges_contains(r.holes, addr + k))
				return k ? MEMSCAN_ERR_PARTIAL : MEMSCAN_ERR_UNREADABLE;
		memcpy(buf, r.data + (addr - r.region.start), len);
		return MEMSCAN_OK;
	}
	return MEMSCAN_ERR_UNREADABLE;
}

/* memscan_pointer_resolve's contract, in the source (remote: followed on the agent). */
int ptr_source_resolve(struct ptr_source *s, const memscan_pointer_chain *c, memscan_pointer_resolution *res)
{
	memscan_pointer_chains *one = NULL;
	int err, status = MEMSCAN_OK;

	if (!s->remote)
		return memscan_pointer_resolve(s->proc, s->snap, c, res);
	err = memscan_pointer_chains_new(0, &one);
	if (err == MEMSCAN_OK)
		err = memscan_pointer_chains_add(one, c);
	if (err == MEMSCAN_OK)
		err = memscan_client_pointer_follow(s->t.client, s->pid, one, res, &status);
	memscan_pointer_chains_free(one);
	return err == MEMSCAN_OK ? status : err;
}
