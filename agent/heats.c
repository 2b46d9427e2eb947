/* SPDX-License-Identifier: MIT */
/* The heats a session keeps on the agent: lookup and release (with the session, or on request). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

agent_heat *agent_heat_find(agent_session *s, uint64_t id)
{
	agent_heat *h;

	for (h = s->heats; h && id; h = h->next)
		if (h->id == id)
			return h;
	return NULL;
}

void agent_heat_free(agent *ag, agent_session *s, agent_heat *heat)
{
	agent_heat **pp;

	for (pp = &s->heats; *pp; pp = &(*pp)->next) {
		if (*pp == heat) {
			*pp = heat->next;
			s->heat_count--;
			break;
		}
	}
	agent_budget_release(ag, s, heat->base_bytes + heat->heat_bytes);
	memscan_heat_free(heat->heat);
	memscan_detector_free(heat->det);
	memscan_process_free(heat->proc);
	free(heat->path_copy);
	free(heat);
}

void agent_heats_free_all(agent *ag, agent_session *s)
{
	while (s->heats)
		agent_heat_free(ag, s, s->heats);
}

/* The key's limits on H's process, checked again: a process that exited ends the heat (its counts
 * stay readable); any other failure releases it (a sample may have read a process the key may no
 * longer see). */
int agent_heat_recheck(agent_req *r, agent_heat *h)
{
	int err = agent_target_recheck(r, h->proc);
	size_t len;

	if (err == MEMSCAN_ERR_PROCESS_GONE)
		h->ended = 1;
	else if (err != MEMSCAN_OK) {
		len = strlen(r->msg);
		snprintf(r->msg + len, sizeof(r->msg) - len, " (heat %llu released)",
		         (unsigned long long)h->id);
		agent_heat_free(r->ag, r->s, h);
	}
	return err;
}
