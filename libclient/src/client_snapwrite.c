/* SPDX-License-Identifier: MIT */
/* A live process's regions streamed straight into a snapshot file: listed, then read page by page with
 * the next page asked for ahead, and nothing kept on the agent (memscan_client_snapshot_write). */
#include <string.h>
#include <time.h>

#include "client_internal.h"

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Opens the file at PATH for PID's snapshot, FILTER recorded as the one its regions were selected
 * with. */
static int open_file(memscan_client *c, const char *path, int pid, const memscan_filter *filter,
                     memscan_snapshot_writer **ret)
{
	memscan_snapshot_writer *w = NULL;
	int r = memscan_snapshot_writer_open(path, pid, &w);

	if (r == MEMSCAN_OK)
		r = memscan_snapshot_writer_set_filter(w, filter);
	if (r != MEMSCAN_OK) {
		memscan_snapshot_writer_free(w);
		return client_fail(c, r, "cannot create '%s': %s", path, memscan_strerror(r));
	}
	*ret = w;
	return MEMSCAN_OK;
}

static int write_live(memscan_client *c, int pid, const memscan_filter *filter, const char *path,
                      memscan_snapshot_file_info *info)
{
	struct client_regions a = { 0 };
	struct client_save_src src = { .pid = pid };
	memscan_snapshot_writer *w = NULL;
	memscan_filter dflt;
	int r = client_list_regions(c, pid, filter, 1, &a);

	if (r != MEMSCAN_OK)
		return r;
	if (!filter) {
		memscan_filter_default(&dflt); /* what the agent selected with */
		filter = &dflt;
	}
	/* every read names the process listed: a PID reused meanwhile is refused, not read */
	src.start_time = a.start_time;
	r = open_file(c, path, pid, filter, &w);
	for (size_t i = 0; r == MEMSCAN_OK && i < memscan_region_list_count(a.list); i++)
		r = client_save_region(c, &src, memscan_region_list_get(a.list, i), w, info);
	/* the regions were read one after another: the file's time is when the last one was */
	if (r == MEMSCAN_OK && (r = memscan_snapshot_writer_commit(w, wall_ns())) != MEMSCAN_OK)
		client_fail(c, r, "cannot write '%s': %s", path, memscan_strerror(r));
	memscan_snapshot_writer_free(w); /* removes the temporary file unless committed */
	memscan_region_list_free(a.list);
	return r;
}

int memscan_client_snapshot_write(memscan_client *c, int pid, const memscan_filter *filter, const char *path,
                                  memscan_snapshot_file_info *ret_info)
{
	memscan_snapshot_file_info info = { 0 };
	int r;

	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	if (!c || pid <= 0 || !path || !*path)
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	r = write_live(c, pid, filter, path, &info);
	client_unlock(c);
	if (r == MEMSCAN_OK && ret_info)
		*ret_info = info;
	return r;
}
