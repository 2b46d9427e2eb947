/* SPDX-License-Identifier: MIT */
/* Replies: failing a request with a message, packing a Response straight into a DATA frame. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"

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

void agent_drop_out(agent_req *r)
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

int agent_pack_error(agent_req *r)
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
