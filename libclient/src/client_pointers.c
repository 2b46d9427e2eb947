/* SPDX-License-Identifier: MIT */
/* Remote pointer scans: the agent searches; the chains it pages back are checked and listed. */
#include <string.h>

#include "client_internal.h"

struct pointers_state {
	memscan_pointer_chains *chains;
	uint64_t address;
	uint64_t max; /* the max_chains asked for */
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
