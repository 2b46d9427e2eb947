/* SPDX-License-Identifier: MIT */
/* Request dispatch: one table {operation, permission, handler}, error replies, audit. */
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
	{ MEMSCAN__V1__REQUEST__OP_VALUE_SCAN, "value_scan", CHAN_PERM_SCAN, agent_op_value_scan, 0 },
	{ MEMSCAN__V1__REQUEST__OP_VALUE_NARROW, "value_narrow", CHAN_PERM_SCAN, agent_op_value_narrow, 0 },
	{ MEMSCAN__V1__REQUEST__OP_VALUE_CANDIDATES, "value_candidates", CHAN_PERM_SCAN,
	  agent_op_value_candidates, 0 },
	{ MEMSCAN__V1__REQUEST__OP_VALUE_RELEASE, "value_release", CHAN_PERM_SCAN, agent_op_value_release,
	  0 },
	/* a heat reveals where and when memory changes, as diff does: the same grant */
	{ MEMSCAN__V1__REQUEST__OP_HEAT_START, "heat_start", CHAN_PERM_READ, agent_op_heat_start, 0 },
	{ MEMSCAN__V1__REQUEST__OP_HEAT_SAMPLE, "heat_sample", CHAN_PERM_READ, agent_op_heat_sample, 0 },
	{ MEMSCAN__V1__REQUEST__OP_HEAT_CELLS, "heat_cells", CHAN_PERM_READ, agent_op_heat_cells, 0 },
	{ MEMSCAN__V1__REQUEST__OP_HEAT_RELEASE, "heat_release", CHAN_PERM_READ, agent_op_heat_release, 0 },
	/* Next continues a result whose operation was already granted */
	{ MEMSCAN__V1__REQUEST__OP_NEXT, "next", 0, agent_op_next, 0 },
	/* pointer scans reveal where pointers lead, as scan reveals contents */
	{ MEMSCAN__V1__REQUEST__OP_POINTER_SCAN, "pointers", CHAN_PERM_SCAN, agent_op_pointers, 0 },
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

static const struct agent_op *agent_find_op(Memscan__V1__Request__OpCase op)
{
	for (size_t i = 0; i < sizeof(agent_ops) / sizeof(agent_ops[0]); i++)
		if (agent_ops[i].op == op)
			return &agent_ops[i];
	return NULL;
}

/* The PID request REQ names, found by reflection: every operation on a process has a field "target"
 * (a Target); 0 for the others. So the audit line of a request refused before its handler ran names
 * the process it asked for. */
static int agent_request_pid(const Memscan__V1__Request *req)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(req->base.descriptor, (unsigned)req->op_case);
	const ProtobufCFieldDescriptor *tf;
	const ProtobufCMessage *op;
	const Memscan__V1__Target *t;

	if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
		return 0;
	op = *(const ProtobufCMessage *const *)((const char *)req + f->offset);
	if (!op)
		return 0;
	tf = protobuf_c_message_descriptor_get_field_by_name(op->descriptor, "target");
	if (!tf || tf->type != PROTOBUF_C_TYPE_MESSAGE || tf->label == PROTOBUF_C_LABEL_REPEATED ||
	    tf->descriptor != &memscan__v1__target__descriptor)
		return 0;
	t = *(const Memscan__V1__Target *const *)((const char *)op + tf->offset);
	return t ? t->pid : 0;
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
		r->pid = agent_request_pid(r->req);
		agent_fail(r, MEMSCAN_ERR_DENIED, "this key is not granted '%s' (needed by %s)",
		           agent_perm_name(op->perm), op->name);
		return;
	}
	op->fn(r);
}

int agent_handle_request(agent *ag, agent_session *s, const Memscan__V1__Request *req, int light,
                         nng_msg **ret_out, size_t *ret_len)
{
	agent_req r;

	if (light && s->pending.ops)
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
	agent_audit_request(s, &r);
	if (!r.out)
		return -1;
	*ret_out = r.out;
	*ret_len = r.out_len;
	return 0;
}
