/* SPDX-License-Identifier: MIT */
/* Request dispatch: one table {operation, permission, handler}, target checks, error replies, audit. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

typedef int (*agent_handler)(agent_req *r);

static const struct agent_op {
	Memscan__V1__Request__OpCase op;
	const char *name;
	uint32_t perm; /* CHAN_PERM_* bit required; 0 = none */
	agent_handler fn;
	int light; /* bounded work, done on nng's threads (see agent_handle_request) */
} agent_ops[] = {
	{ MEMSCAN__V1__REQUEST__OP_HELLO, "hello", 0, agent_op_hello, 1 },
	{ MEMSCAN__V1__REQUEST__OP_LIST_PROCESSES, "list_processes", CHAN_PERM_LIST, agent_op_list_processes,
	  0 },
	{ MEMSCAN__V1__REQUEST__OP_LIST_REGIONS, "list_regions", CHAN_PERM_LIST, agent_op_list_regions, 1 },
	{ MEMSCAN__V1__REQUEST__OP_READ, "read", CHAN_PERM_READ, agent_op_read, 0 },
	{ MEMSCAN__V1__REQUEST__OP_SNAPSHOT, "snapshot", CHAN_PERM_READ, agent_op_snapshot, 0 },
	{ MEMSCAN__V1__REQUEST__OP_DIFF, "diff", CHAN_PERM_READ, agent_op_diff, 0 },
	{ MEMSCAN__V1__REQUEST__OP_SCAN, "scan", CHAN_PERM_SCAN, agent_op_scan, 0 },
	{ MEMSCAN__V1__REQUEST__OP_RELEASE, "release", CHAN_PERM_READ, agent_op_release, 0 },
	/* Next continues a result whose operation was already granted */
	{ MEMSCAN__V1__REQUEST__OP_NEXT, "next", 0, agent_op_next, 0 },
};

static const char *agent_perm_name(uint32_t perm)
{
	switch (perm) {
	case CHAN_PERM_LIST:
		return "list";
	case CHAN_PERM_READ:
		return "read";
	case CHAN_PERM_SCAN:
		return "scan";
	}
	return "?";
}

int agent_fail(agent_req *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->err = err;
	return err;
}

nng_msg *agent_frame_alloc(size_t pt_len)
{
	nng_msg *m;

	if (pt_len > SIZE_MAX - CHAN_DATA_OVERHEAD || nng_msg_alloc(&m, pt_len + CHAN_DATA_OVERHEAD) != 0)
		return NULL;
	return m;
}

/* Packs RESP straight into a new reply frame (sealed in place later: no other copy). */
static nng_msg *agent_pack_frame(const Memscan__V1__Response *resp, size_t *ret_len)
{
	size_t len = protobuf_c_message_get_packed_size(&resp->base);
	nng_msg *m = agent_frame_alloc(len);

	if (m)
		*ret_len =
		    protobuf_c_message_pack(&resp->base, (uint8_t *)nng_msg_body(m) + CHAN_DATA_AD_LEN);
	return m;
}

static void agent_drop_out(agent_req *r)
{
	if (r->out)
		nng_msg_free(r->out);
	r->out = NULL;
	r->out_len = 0;
}

uint8_t *agent_reply_frame(agent_req *r, size_t len)
{
	agent_drop_out(r);
	r->out = agent_frame_alloc(len);
	if (!r->out) {
		agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory building the reply");
		return NULL;
	}
	r->out_len = len;
	return (uint8_t *)nng_msg_body(r->out) + CHAN_DATA_AD_LEN;
}

int agent_pack(agent_req *r, Memscan__V1__Response *resp)
{
	agent_drop_out(r);
	r->out = agent_pack_frame(resp, &r->out_len);
	if (!r->out)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory packing the reply");
	return MEMSCAN_OK;
}

/* Reads the real, effective, saved and filesystem uids of PID from /proc/PID/status. One open and read
 * into a stack buffer, no stdio: this runs per request for keys limited to uids, and the Uid: line is
 * within the file's first lines (the one field above it that varies, Name, is escaped and short). */
static int agent_pid_uids(int pid, uint32_t uids[4])
{
	char path[64], buf[2048];
	unsigned long long v[4];
	const char *line;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	line = strstr(buf, "\nUid:");
	if (!line || sscanf(line + 5, "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]) != 4)
		return -1;
	for (int i = 0; i < 4; i++)
		uids[i] = (uint32_t)v[i];
	return 0;
}

/* DENIED unless every uid of the (open) process lies in the key's uid range. */
static int agent_check_uid(agent_req *r, memscan_process *proc)
{
	agent_session *s = r->s;
	uint32_t uids[4];
	int pid = memscan_process_pid(proc);

	if (s->uid_min > s->uid_max)
		return MEMSCAN_OK; /* any uid */
	if (agent_pid_uids(pid, uids) != 0 || memscan_process_check_alive(proc) != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d exited", pid);
	for (int i = 0; i < 4; i++)
		if (uids[i] < s->uid_min || uids[i] > s->uid_max)
			return agent_fail(r, MEMSCAN_ERR_DENIED,
			                  "process %d runs as uid %u, outside this key's uids=%u-%u", pid,
			                  uids[i], s->uid_min, s->uid_max);
	return MEMSCAN_OK;
}

/* The checks on an open process PROC for TARGET T: within the key's uids, and the same process as
 * T's start time names. */
static int agent_check_target(agent_req *r, const Memscan__V1__Target *t, memscan_process *proc)
{
	int err = agent_check_uid(r, proc);

	if (err == MEMSCAN_OK && t->start_time && t->start_time != memscan_process_start_time(proc))
		err =
		    agent_fail(r, MEMSCAN_ERR_PROCESS_GONE,
		               "process %d is not the one started at %llu: it exited and the PID was reused",
		               memscan_process_pid(proc), (unsigned long long)t->start_time);
	return err;
}

/* Validates TARGET and opens it: pid > 0, never the agent itself, within the key's uids, and the
 * same process as TARGET's start time names. */
int agent_open_target(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc)
{
	memscan_process *proc = NULL;
	int pid = t ? t->pid : 0;
	int err;

	*ret_proc = NULL;
	r->pid = pid;
	if (pid <= 0)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "pid %d: a target needs a PID > 0", pid);
	if (pid == r->ag->self_pid)
		return agent_fail(r, MEMSCAN_ERR_DENIED, "pid %d is the agent itself: never served", pid);
	err = memscan_process_open(pid, &proc);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot open process %d: %s", pid, memscan_strerror(err));
	/* --read-absent: every handle this agent reads with (kept snapshots' too) reads pages never
	 * written instead of zero-filling them, for targets whose memory is supplied on demand */
	if (r->ag->cfg.read_absent)
		memscan_process_set_skip_absent(proc, 0);
	err = agent_check_target(r, t, proc);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return err;
	}
	*ret_proc = proc;
	return MEMSCAN_OK;
}

int agent_open_target_cached(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc)
{
	agent_session *s = r->s;
	int pid = t ? t->pid : 0;
	int err;

	*ret_proc = NULL;
	if (s->proc_cache && (pid <= 0 || memscan_process_pid(s->proc_cache) != pid ||
	                      memscan_process_check_alive(s->proc_cache) != MEMSCAN_OK)) {
		memscan_process_free(s->proc_cache);
		s->proc_cache = NULL;
	}
	if (!s->proc_cache) {
		err = agent_open_target(r, t, &s->proc_cache);
		*ret_proc = s->proc_cache;
		return err;
	}
	/* the PID was checked (> 0, not the agent) when the handle was opened; its uids may change */
	r->pid = pid;
	err = agent_check_target(r, t, s->proc_cache);
	if (err == MEMSCAN_OK)
		*ret_proc = s->proc_cache;
	return err;
}

static const struct agent_op *agent_find_op(Memscan__V1__Request__OpCase op)
{
	for (size_t i = 0; i < sizeof(agent_ops) / sizeof(agent_ops[0]); i++)
		if (agent_ops[i].op == op)
			return &agent_ops[i];
	return NULL;
}

static void agent_dispatch(agent_req *r)
{
	const struct agent_op *op = agent_find_op(r->req->op_case);
	uint32_t perms = chan_session_perms(r->s->chan);

	if (!op) {
		r->op = "unknown";
		agent_fail(r, MEMSCAN_ERR_UNKNOWN_OP, "unknown or missing operation (%d)",
		           (int)r->req->op_case);
		return;
	}
	r->op = op->name;
	if (r->light && !op->light) {
		r->defer = 1;
		return;
	}
	if (op->op != MEMSCAN__V1__REQUEST__OP_NEXT)
		agent_pending_clear(&r->s->pending);
	if (op->perm && !(perms & op->perm)) {
		agent_fail(r, MEMSCAN_ERR_DENIED, "this key is not granted '%s' (needed by %s)",
		           agent_perm_name(op->perm), op->name);
		return;
	}
	op->fn(r);
}

static int agent_pack_error(agent_req *r)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Error e = MEMSCAN__V1__ERROR__INIT;

	agent_drop_out(r);
	e.code = wire_err_to_proto(r->err);
	e.message = r->msg;
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_ERROR;
	resp.error = &e;
	r->out = agent_pack_frame(&resp, &r->out_len);
	return r->out ? 0 : -1;
}

int agent_handle_request(agent *ag, agent_session *s, const Memscan__V1__Request *req, int light,
                         nng_msg **ret_out, size_t *ret_len)
{
	agent_req r;

	if (light && s->pending.kind != AGENT_PAGE_NONE)
		return AGENT_DEFER;
	memset(&r, 0, sizeof(r));
	r.ag = ag;
	r.s = s;
	r.light = light;
	if (!req) {
		r.op = "malformed";
		agent_pending_clear(&s->pending);
		agent_fail(&r, MEMSCAN_ERR_PROTOCOL, "malformed request: not a memscan.v1.Request");
	} else {
		r.req = req;
		agent_dispatch(&r);
	}
	if (r.defer) {
		agent_drop_out(&r);
		return AGENT_DEFER;
	}
	if (r.err != MEMSCAN_OK && agent_pack_error(&r) != 0)
		r.err = MEMSCAN_ERR_NO_MEMORY;
	agent_audit(s, r.op, r.pid, r.bytes, r.err);
	if (!r.out)
		return -1;
	*ret_out = r.out;
	*ret_len = r.out_len;
	return 0;
}
