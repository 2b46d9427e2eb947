/* SPDX-License-Identifier: MIT */
/* Budgets (what sessions keep, per session and in all) and the random ids of snapshots, cursors and
 * sessions. */
#include <stdio.h>

#include <sodium.h>

#include "agent.h"

uint64_t agent_random_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		randombytes_buf(&id, sizeof(id));
	return id;
}

/* "64 MiB (67108864 bytes) exceed WHAT (12 MiB of 1 GiB in use; DO or raise KEY in agent.conf or
 * --KEY-with-dashes)": sizes for people, with the exact request, and the setting that raises it. */
void agent_budget_msg(char *msg, size_t msg_len, uint64_t bytes, uint64_t used, uint64_t budget,
                      const char *what, const char *remedy, const char *key)
{
	char b[32], u[32], t[32], flag[32];

	snprintf(flag, sizeof(flag), "%s", key);
	for (char *c = flag; *c; c++)
		*c = *c == '_' ? '-' : *c;
	snprintf(msg, msg_len,
	         "%s (%llu bytes) exceed %s (%s of %s in use; %s or raise %s in agent.conf, or --%s)",
	         memscan_size_format(bytes, b, sizeof(b)), (unsigned long long)bytes, what,
	         memscan_size_format(used, u, sizeof(u)), memscan_size_format(budget, t, sizeof(t)), remedy,
	         key, flag);
}

/* True (the reason in MSG) if BYTES more would exceed the agent's budget; budget_lock held. */
static int agent_global_over(const agent *ag, uint64_t bytes, char *msg, size_t msg_len)
{
	if (bytes <= ag->cfg.global_budget - ag->global_used)
		return 0;
	agent_budget_msg(msg, msg_len, bytes, ag->global_used, ag->cfg.global_budget,
	                 "the agent's memory budget", "retry later", "global_budget");
	return 1;
}

int agent_budget_reserve(agent *ag, agent_session *s, uint64_t bytes, char *msg, size_t msg_len)
{
	int r = 0;

	pthread_mutex_lock(&ag->budget_lock);
	if (bytes > ag->cfg.session_budget - s->budget_used || s->budget_used > ag->cfg.session_budget) {
		agent_budget_msg(msg, msg_len, bytes, s->budget_used, ag->cfg.session_budget,
		                 "this session's memory budget", "release snapshots", "session_budget");
		r = -1;
	} else if (agent_global_over(ag, bytes, msg, msg_len)) {
		r = -1;
	} else {
		s->budget_used += bytes;
		ag->global_used += bytes;
	}
	pthread_mutex_unlock(&ag->budget_lock);
	return r;
}

uint64_t agent_budget_room(agent *ag, const agent_session *s)
{
	uint64_t room, global;

	pthread_mutex_lock(&ag->budget_lock);
	room = s->budget_used < ag->cfg.session_budget ? ag->cfg.session_budget - s->budget_used : 0;
	global = ag->global_used < ag->cfg.global_budget ? ag->cfg.global_budget - ag->global_used : 0;
	pthread_mutex_unlock(&ag->budget_lock);
	return room < global ? room : global;
}

void agent_budget_release(agent *ag, agent_session *s, uint64_t bytes)
{
	pthread_mutex_lock(&ag->budget_lock);
	s->budget_used -= bytes < s->budget_used ? bytes : s->budget_used;
	ag->global_used -= bytes < ag->global_used ? bytes : ag->global_used;
	pthread_mutex_unlock(&ag->budget_lock);
}

int agent_pending_charge(agent_req *r, uint64_t bytes, const char *what)
{
	agent_pending *p = &r->s->pending;
	char why[160];

	if (agent_budget_reserve(r->ag, r->s, bytes, why, sizeof(why)) != 0)
		return agent_fail(r, MEMSCAN_ERR_BUSY, "%s: %s", what, why);
	p->ag = r->ag;
	p->owner = r->s;
	p->charged += bytes;
	return MEMSCAN_OK;
}

int agent_global_reserve(agent *ag, uint64_t bytes, char *msg, size_t msg_len)
{
	int r = 0;

	pthread_mutex_lock(&ag->budget_lock);
	if (agent_global_over(ag, bytes, msg, msg_len))
		r = -1;
	else
		ag->global_used += bytes;
	pthread_mutex_unlock(&ag->budget_lock);
	return r;
}

void agent_global_release(agent *ag, uint64_t bytes)
{
	pthread_mutex_lock(&ag->budget_lock);
	ag->global_used -= bytes < ag->global_used ? bytes : ag->global_used;
	pthread_mutex_unlock(&ag->budget_lock);
}
