/* SPDX-License-Identifier: MIT */
/* The snapshots a session keeps on the agent: lookup, release, and release when the key's limits no
 * longer hold (their bytes must not outlive the process the key could read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

agent_snap *agent_snap_find(agent_session *s, uint64_t id)
{
	agent_snap *snap;

	for (snap = s->snaps; snap && id; snap = snap->next)
		if (snap->id == id)
			return snap;
	return NULL;
}

/* Unlinks SNAP from S, frees it and gives its bytes back to the budgets. */
void agent_snap_free(agent *ag, agent_session *s, agent_snap *snap)
{
	agent_snap **pp;

	for (pp = &s->snaps; *pp; pp = &(*pp)->next) {
		if (*pp == snap) {
			*pp = snap->next;
			s->snap_count--;
			break;
		}
	}
	agent_budget_release(ag, s, snap->base_bytes + snap->cur_bytes);
	memscan_detector_free(snap->det);
	memscan_process_free(snap->proc);
	free(snap->path_copy);
	free(snap);
}

void agent_snaps_free_all(agent *ag, agent_session *s)
{
	while (s->snaps)
		agent_snap_free(ag, s, s->snaps);
}

int agent_snap_check(agent_req *r, agent_snap *snap)
{
	int err = agent_target_recheck(r, snap->proc);

	if (err != MEMSCAN_OK)
		agent_snap_drop(r, snap);
	return err;
}

void agent_snap_drop(agent_req *r, agent_snap *snap)
{
	uint64_t id = snap->id;
	size_t len = strlen(r->msg);

	agent_snap_free(r->ag, r->s, snap);
	snprintf(r->msg + len, sizeof(r->msg) - len, " (snapshot %llu released)", (unsigned long long)id);
}
