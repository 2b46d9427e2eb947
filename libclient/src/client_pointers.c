/* SPDX-License-Identifier: MIT */
/* Remote pointer scans: the agent searches (saying how far it is, if it can); the chains it pages back
 * are checked and listed. */
#include <string.h>

#include "client_internal.h"

/* Chains sent in one request to follow (the agent's bound; a request is at most 64 KiB). */
#define CLIENT_FOLLOW_BATCH 128

struct pointers_state {
	memscan_pointer_chains *chains;
	uint64_t address;
	uint64_t max; /* the max_chains asked for */
	/* following: where the chains of the batch led */
	const memscan_pointer_chains *asked;
	size_t first, n, got;
	memscan_pointer_resolution *res;
	int *status;
};

static int add_chain(memscan_client *c, struct pointers_state *st, const Memscan__V1__PointerChain *m)
{
	memscan_pointer_chain ch;
	size_t len = m && m->module ? strlen(m->module) : 0;
	int r;

	if (!m || len == 0 || len >= MEMSCAN_POINTER_MODULE_MAX || m->n_offsets < 1 ||
	    m->n_offsets > MEMSCAN_POINTER_DEPTH_MAX)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a malformed pointer chain");
	if (memscan_pointer_chains_count(st->chains) >= st->max)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent more chains than the %llu asked for",
		                   (unsigned long long)st->max);
	memset(&ch, 0, sizeof(ch));
	memcpy(ch.module, m->module, len);
	ch.offset = m->offset;
	ch.depth = (unsigned)m->n_offsets;
	memcpy(ch.offsets, m->offsets, m->n_offsets * sizeof(*ch.offsets));
	r = memscan_pointer_chains_add(st->chains, &ch);
	return r == MEMSCAN_OK ? r : client_fail(c, r, "cannot keep the chains: %s", memscan_strerror(r));
}

static int pointers_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx,
                         uint64_t *ret_cursor)
{
	const Memscan__V1__PointerPage *p = resp->pointers;
	struct pointers_state *st = ctx;
	int r = MEMSCAN_OK;

	if (!p || p->address != st->address)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent a pointer page of another address");
	for (size_t i = 0; r == MEMSCAN_OK && i < p->n_chains; i++)
		r = add_chain(c, st, p->chains[i]);
	*ret_cursor = p->next_cursor;
	return r;
}

int memscan_client_pointer_search(memscan_client *c, int pid, uint64_t addr,
                                  const memscan_pointer_search_options *options,
                                  memscan_pointer_chains **ret_chains)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__PointerScan ps = MEMSCAN__V1__POINTER_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	memscan_pointer_search_options defaults;
	struct pointers_state st = { .address = addr };
	int r;

	if (ret_chains)
		*ret_chains = NULL;
	if (!c || pid <= 0 || !ret_chains)
		return MEMSCAN_ERR_INVALID_ARG;
	memscan_pointer_search_options_default(&defaults);
	if (!options)
		options = &defaults;
	t.pid = pid;
	ps.target = &t;
	ps.address = addr;
	ps.depth = options->depth;
	ps.max_offset = options->max_offset;
	ps.max_chains = st.max = options->max_chains;
	ps.flags = options->flags;
	req.op_case = MEMSCAN__V1__REQUEST__OP_POINTER_SCAN;
	req.pointer_scan = &ps;
	r = memscan_pointer_chains_new(addr, &st.chains);
	if (r != MEMSCAN_OK)
		return r;
	client_lock(c);
	r = client_ensure_session(c); /* and with it what the agent can */
	/* an agent that can says how far it is (the progress and cancel callbacks see the work go) */
	ps.progress_ms = client_progress_ms(c);
	if (r == MEMSCAN_OK)
		r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_POINTERS,
		                 MEMSCAN__V1__RESPONSE__RESULT_POINTERS, pointers_page, &st);
	client_unlock(c);
	if (r != MEMSCAN_OK) {
		memscan_pointer_chains_free(st.chains);
		return r;
	}
	*ret_chains = st.chains;
	return MEMSCAN_OK;
}

/* One chain followed: it must be the next one asked, and its status one the agent may give. */
static int followed(memscan_client *c, struct pointers_state *st, const Memscan__V1__PointerChain *m)
{
	const memscan_pointer_chain *want = memscan_pointer_chains_get(st->asked, st->first + st->got);
	int status = !m ? -1 : m->status == 0 ? MEMSCAN_OK : wire_err_from_proto(m->status); /* 0: OK */
	memscan_pointer_resolution *res;

	if (!m || st->got >= st->n || !want || !m->module || strcmp(m->module, want->module) != 0 ||
	    m->offset != want->offset ||
	    (status != MEMSCAN_OK && status != MEMSCAN_ERR_NOT_FOUND && status != MEMSCAN_ERR_UNREADABLE) ||
	    (status == MEMSCAN_ERR_UNREADABLE && (m->step < 1 || m->step > want->depth)))
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent answered with another chain than asked");
	res = &st->res[st->first + st->got];
	memset(res, 0, sizeof(*res));
	res->address = status == MEMSCAN_OK ? m->address : 0;
	if (status == MEMSCAN_ERR_UNREADABLE) {
		res->step = m->step;
		res->at = m->at;
		res->null = m->null;
	}
	st->status[st->first + st->got++] = status;
	return MEMSCAN_OK;
}

static int follow_page(memscan_client *c, const Memscan__V1__Response *resp, void *ctx, uint64_t *ret_cursor)
{
	const Memscan__V1__PointerPage *p = resp->pointers;
	int r = MEMSCAN_OK;

	if (!p)
		return client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent sent an empty pointer page");
	for (size_t i = 0; r == MEMSCAN_OK && i < p->n_chains; i++)
		r = followed(c, ctx, p->chains[i]);
	*ret_cursor = p->next_cursor;
	return r;
}

/* Chains [FIRST, FIRST + N) of ST->asked as the request's follow list. */
static int follow_batch(memscan_client *c, int pid, struct pointers_state *st)
{
	Memscan__V1__Request req = MEMSCAN__V1__REQUEST__INIT;
	Memscan__V1__PointerScan ps = MEMSCAN__V1__POINTER_SCAN__INIT;
	Memscan__V1__Target t = MEMSCAN__V1__TARGET__INIT;
	Memscan__V1__PointerChain items[CLIENT_FOLLOW_BATCH], *ptrs[CLIENT_FOLLOW_BATCH];
	int r;

	for (size_t i = 0; i < st->n; i++) {
		const memscan_pointer_chain *ch = memscan_pointer_chains_get(st->asked, st->first + i);

		memscan__v1__pointer_chain__init(&items[i]);
		items[i].module = (char *)ch->module;
		items[i].offset = ch->offset;
		items[i].n_offsets = ch->depth;
		items[i].offsets = (int64_t *)ch->offsets;
		ptrs[i] = &items[i];
	}
	t.pid = pid;
	ps.target = &t;
	ps.n_follow = st->n;
	ps.follow = ptrs;
	req.op_case = MEMSCAN__V1__REQUEST__OP_POINTER_SCAN;
	req.pointer_scan = &ps;
	st->got = 0;
	r = client_paged(c, &req, MEMSCAN__V1__RESPONSE__RESULT_POINTERS,
	                 MEMSCAN__V1__RESPONSE__RESULT_POINTERS, follow_page, st);
	if (r == MEMSCAN_OK && st->got != st->n)
		r = client_fail(c, MEMSCAN_ERR_PROTOCOL, "agent followed %zu of %zu chains", st->got, st->n);
	return r;
}

int memscan_client_pointer_follow(memscan_client *c, int pid, const memscan_pointer_chains *chains,
                                  memscan_pointer_resolution *results, int *statuses)
{
	struct pointers_state st = { .asked = chains, .res = results, .status = statuses };
	size_t count = memscan_pointer_chains_count(chains);
	int r = MEMSCAN_OK;

	if (!c || pid <= 0 || !chains || (count && (!results || !statuses)))
		return MEMSCAN_ERR_INVALID_ARG;
	client_lock(c);
	for (st.first = 0; r == MEMSCAN_OK && st.first < count; st.first += st.n) {
		/* between batches nothing is pending on the agent: a stop leaves the session as it was */
		client_progress_report(c, st.first, count);
		if (client_cancelled(c)) {
			r = client_fail(c, MEMSCAN_ERR_CANCELLED, "cancelled after %zu of %zu chains",
			                st.first, count);
			break;
		}
		st.n = count - st.first < CLIENT_FOLLOW_BATCH ? count - st.first : CLIENT_FOLLOW_BATCH;
		r = follow_batch(c, pid, &st);
	}
	if (r == MEMSCAN_OK)
		client_progress_report(c, count, count);
	client_unlock(c);
	return r;
}
