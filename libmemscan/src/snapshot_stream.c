/* SPDX-License-Identifier: MIT */
/* Snapshots streamed into a file: a second thread reads the regions chunk by chunk into a few reused
 * buffers while the caller writes the chunks read before (memscan_snapshot_write_process). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "snapfile.h"

/* Buffers in the ring: one being written, one being read, two to absorb uneven speeds. */
#define SW_SLOTS 4
/* Bytes per chunk: large enough that process_vm_readv and write(2) run near their ceilings. */
#define SW_CHUNK (MEMSCAN_SNAPSHOT_STREAM_BYTES / SW_SLOTS)

/* One chunk: LEN bytes at offset OFF of region REGION (an index into the sorted order). */
struct sw_slot {
	uint8_t *buf;
	size_t region;
	uint64_t off;
	size_t len;
	memscan_ranges holes;
	size_t hole_bytes;
	int err;
};

struct sw_pipe {
	memscan_process *proc;
	const memscan_region **order;
	size_t n;
	struct sw_slot slot[SW_SLOTS];
	int threaded; /* a reader thread runs; else the writer reads each chunk itself */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t produced, consumed; /* chunks read; chunks written (their slots free again) */
	int stop;                  /* the writer failed or is done: the reader stops */
};

/* Where the next chunk starts. */
struct sw_cursor {
	size_t region;
	uint64_t off;
};

/* Describes the chunk at C in S and moves C past it; 0 when no chunk is left. */
static int sw_take(const struct sw_pipe *p, struct sw_cursor *c, struct sw_slot *s)
{
	uint64_t size;

	if (c->region >= p->n)
		return 0;
	size = p->order[c->region]->end - p->order[c->region]->start;
	s->region = c->region;
	s->off = c->off;
	s->len = size - c->off < SW_CHUNK ? (size_t)(size - c->off) : SW_CHUNK;
	c->off += s->len;
	if (c->off == size) {
		c->region++;
		c->off = 0;
	}
	return 1;
}

static int sw_read(struct sw_pipe *p, struct sw_slot *s)
{
	const memscan_region *g = p->order[s->region];
	struct ms_read_req req = { .addr = g->start + s->off,
		                   .buf = s->buf,
		                   .len = s->len,
		                   .holes = &s->holes,
		                   .absent_zero = ms_region_absent_zero(g) };

	memscan_ranges_clear(&s->holes);
	s->err = ms_read_batch_raw(p->proc, &req, 1);
	s->hole_bytes = req.hole_bytes;
	return s->err;
}

static void *sw_reader(void *arg)
{
	struct sw_pipe *p = arg;
	struct sw_cursor c = { 0 };
	int stop = 0;

	for (size_t k = 0; !stop; k++) {
		struct sw_slot *s = &p->slot[k % SW_SLOTS];

		pthread_mutex_lock(&p->mu);
		while (!p->stop && k - p->consumed >= SW_SLOTS)
			pthread_cond_wait(&p->cv, &p->mu);
		stop = p->stop;
		pthread_mutex_unlock(&p->mu);
		if (stop || !sw_take(p, &c, s))
			break;
		stop = sw_read(p, s) != MEMSCAN_OK; /* the writer sees the error in the slot */
		pthread_mutex_lock(&p->mu);
		p->produced = k + 1;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

/* Chunk K, read: by the reader thread (waited for) or now. Its error, if reading it failed. */
static int sw_obtain(struct sw_pipe *p, size_t k, struct sw_cursor *c)
{
	struct sw_slot *s = &p->slot[k % SW_SLOTS];

	if (!p->threaded)
		return sw_take(p, c, s) ? sw_read(p, s) : MEMSCAN_ERR_INVALID_ARG;
	pthread_mutex_lock(&p->mu);
	while (p->produced <= k)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
	return s->err;
}

static void sw_release(struct sw_pipe *p, size_t k, int stop)
{
	pthread_mutex_lock(&p->mu);
	p->consumed = k + 1;
	p->stop |= stop;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Writes chunk S (its holes, then its bytes); at its region's end, closes the record, or takes it
 * back when nothing of the region could be read (as memscan_snapshot_take leaves such regions out).
 * *REGION_HOLES: the hole bytes of the region so far. */
static int sw_put(struct sw_pipe *p, memscan_snapshot_writer *w, const struct sw_slot *s,
                  uint64_t *region_holes, memscan_snapshot_file_info *info)
{
	const memscan_region *g = p->order[s->region];
	uint64_t size = g->end - g->start;
	int rc = MEMSCAN_OK;

	if (s->off == 0) {
		rc = memscan_snapshot_writer_begin_region(w, g);
		*region_holes = 0;
	}
	for (size_t i = 0; rc == MEMSCAN_OK && i < s->holes.count; i++)
		rc = memscan_snapshot_writer_add_hole(w, s->holes.items[i]);
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_write(w, s->buf, s->len);
	*region_holes += s->hole_bytes;
	if (rc != MEMSCAN_OK || s->off + s->len < size)
		return rc;
	if (*region_holes == size)
		return memscan_snapshot_writer_drop_region(w);
	info->regions++;
	info->bytes += size;
	info->hole_bytes += *region_holes;
	return memscan_snapshot_writer_end_region(w);
}

static int sw_write_all(struct sw_pipe *p, memscan_snapshot_writer *w, memscan_snapshot_file_info *info)
{
	struct sw_cursor c = { 0 };
	uint64_t region_holes = 0;
	size_t chunks = 0;
	int rc = MEMSCAN_OK;

	for (size_t i = 0; i < p->n; i++)
		chunks += (size_t)((p->order[i]->end - p->order[i]->start + SW_CHUNK - 1) / SW_CHUNK);
	for (size_t k = 0; k < chunks && rc == MEMSCAN_OK; k++) {
		rc = sw_obtain(p, k, &c);
		if (rc == MEMSCAN_OK)
			rc = sw_put(p, w, &p->slot[k % SW_SLOTS], &region_holes, info);
		if (p->threaded)
			sw_release(p, k, rc != MEMSCAN_OK);
	}
	return rc;
}

static void sw_pipe_release(struct sw_pipe *p)
{
	for (int i = 0; i < SW_SLOTS; i++) {
		ms_buf_free(p->slot[i].buf, SW_CHUNK);
		memscan_ranges_release(&p->slot[i].holes);
	}
	free(p->order);
}

/* Reads and writes every chunk, with the reader thread when one can be started. */
static int sw_run(struct sw_pipe *p, memscan_snapshot_writer *w, memscan_snapshot_file_info *info)
{
	pthread_t tid;
	int rc;

	ms_process_prepare_absent(p->proc);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->threaded = pthread_create(&tid, NULL, sw_reader, p) == 0;
	rc = sw_write_all(p, w, info);
	if (p->threaded) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1; /* the reader may wait for a slot that will never be freed */
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(tid, NULL);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	return rc;
}

int memscan_snapshot_write_process(memscan_process *proc, const memscan_region_list *regions,
                                   const memscan_filter *filter, const char *path,
                                   memscan_snapshot_file_info *ret_info)
{
	memscan_snapshot_file_info info = { 0 };
	memscan_region_list *own = NULL;
	memscan_snapshot_writer *w = NULL;
	struct sw_pipe p = { .proc = proc };
	memscan_filter dflt;
	int rc = MEMSCAN_OK;

	if (ret_info)
		memset(ret_info, 0, sizeof(*ret_info));
	if (!proc || !path || !*path)
		return MEMSCAN_ERR_INVALID_ARG;
	if (!regions && !filter) {
		memscan_filter_default(&dflt);
		filter = &dflt;
	}
	if (!regions && (rc = memscan_regions_read(proc, filter, &own)) != MEMSCAN_OK)
		return rc;
	p.n = memscan_region_list_count(regions ? regions : own);
	p.order = ms_regions_sorted(regions ? regions : own);
	for (int i = 0; p.order && i < SW_SLOTS; i++)
		if (!(p.slot[i].buf = ms_buf_alloc(SW_CHUNK)))
			rc = MEMSCAN_ERR_NO_MEMORY;
	if (!p.order)
		rc = MEMSCAN_ERR_NO_MEMORY;
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_open(path, proc->pid, &w);
	if (rc == MEMSCAN_OK && filter)
		rc = memscan_snapshot_writer_set_filter(w, filter);
	if (rc == MEMSCAN_OK)
		rc = sw_run(&p, w, &info);
	/* a process that exited may have had its PID reused: what was read could be someone else's */
	if (rc == MEMSCAN_OK)
		rc = ms_cancelled(proc) ? MEMSCAN_ERR_CANCELLED : memscan_process_check_alive(proc);
	if (rc == MEMSCAN_OK)
		rc = memscan_snapshot_writer_commit(w, ms_now_ns());
	memscan_snapshot_writer_free(w); /* removes the temporary file unless committed */
	sw_pipe_release(&p);
	memscan_region_list_free(own);
	if (rc == MEMSCAN_OK && ret_info)
		*ret_info = info;
	return rc;
}
