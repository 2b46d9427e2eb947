/* SPDX-License-Identifier: MIT */
/* Value sets kept on the agent: owned by the client key that made them (other keys never find
 * them), charged to that key's set budget and the agent's budget, at most max_sets a key, dropped
 * when released or idle for set_idle. They outlive connections, so they hold no process handle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "agent.h"

/* The set ID of OWNER, or NULL; vset_lock held. */
static agent_vset *vset_find(agent *ag, const uint8_t *owner, uint64_t id)
{
	for (agent_vset *v = ag->vsets; v && id; v = v->next)
		if (v->id == id && sodium_memcmp(v->owner, owner, KEYFILE_KEY_LEN) == 0)
			return v;
	return NULL;
}

/* Sets OWNER keeps, and the bytes they are charged; vset_lock held. */
static size_t vset_usage(agent *ag, const uint8_t *owner, uint64_t *ret_bytes)
{
	size_t n = 0;

	*ret_bytes = 0;
	for (agent_vset *v = ag->vsets; v; v = v->next) {
		if (sodium_memcmp(v->owner, owner, KEYFILE_KEY_LEN) != 0)
			continue;
		n++;
		*ret_bytes += v->bytes;
	}
	return n;
}

static int vset_not_found(agent_req *r, uint64_t id)
{
	return agent_fail(r, MEMSCAN_ERR_NOT_FOUND,
	                  "no value set %016llx for this key (released, dropped after %llu s idle, made "
	                  "by another key, or never made)",
	                  (unsigned long long)id, (unsigned long long)(r->ag->cfg.set_idle_ms / 1000));
}

int agent_vset_claim(agent_req *r, uint64_t id, agent_vset **ret)
{
	agent *ag = r->ag;
	agent_vset *v;
	int busy = 0;

	*ret = NULL;
	pthread_mutex_lock(&ag->vset_lock);
	v = vset_find(ag, r->s->client_pub, id);
	if (v && v->busy)
		busy = 1;
	else if (v)
		v->busy = 1;
	pthread_mutex_unlock(&ag->vset_lock);
	if (!v)
		return vset_not_found(r, id);
	if (busy)
		return agent_fail(r, MEMSCAN_ERR_BUSY,
		                  "value set %016llx is in use by another request of this key: retry",
		                  (unsigned long long)id);
	*ret = v;
	return MEMSCAN_OK;
}

void agent_vset_unclaim(agent *ag, agent_vset *v)
{
	pthread_mutex_lock(&ag->vset_lock);
	v->busy = 0;
	v->used_ns = chan_monotonic_ns();
	pthread_mutex_unlock(&ag->vset_lock);
}

/* Fails R with BUSY unless BYTES more (GIVE_BACK bytes of it being released at once) fit in the
 * key's set budget (KEY_BYTES used); vset_lock held. */
static int vset_key_room(agent_req *r, uint64_t key_bytes, uint64_t bytes, uint64_t give_back)
{
	uint64_t budget = r->ag->cfg.set_budget, after = key_bytes - give_back;
	char msg[512];

	if (bytes <= budget && after <= budget - bytes)
		return MEMSCAN_OK;
	agent_budget_msg(msg, sizeof(msg), bytes, after, budget, "this key's value-set budget",
	                 "release sets (memscan release SET), narrow the scan (filters, --max)",
	                 "set_budget");
	return agent_fail(r, MEMSCAN_ERR_BUSY, "a value set of %s", msg);
}

/* Charges BYTES to R's key (giving GIVE_BACK back) and to the agent's budget; vset_lock held. */
static int vset_charge(agent_req *r, uint64_t bytes, uint64_t give_back)
{
	uint64_t key_bytes;
	char why[200];
	int err;

	vset_usage(r->ag, r->s->client_pub, &key_bytes);
	err = vset_key_room(r, key_bytes, bytes, give_back);
	if (err != MEMSCAN_OK)
		return err;
	if (bytes > give_back && agent_global_reserve(r->ag, bytes - give_back, why, sizeof(why)) != 0)
		return agent_fail(r, MEMSCAN_ERR_BUSY, "value set: %s", why);
	if (give_back > bytes)
		agent_global_release(r->ag, give_back - bytes);
	return MEMSCAN_OK;
}

int agent_vset_room(agent_req *r, uint64_t bytes)
{
	agent *ag = r->ag;
	uint64_t key_bytes;
	int err;

	pthread_mutex_lock(&ag->vset_lock);
	vset_usage(ag, r->s->client_pub, &key_bytes);
	err = vset_key_room(r, key_bytes, bytes, 0);
	pthread_mutex_unlock(&ag->vset_lock);
	return err;
}

uint64_t agent_vset_max_candidates(agent_req *r, size_t width, uint64_t give_back)
{
	agent *ag = r->ag;
	uint64_t key_bytes, room;

	pthread_mutex_lock(&ag->vset_lock);
	vset_usage(ag, r->s->client_pub, &key_bytes);
	pthread_mutex_unlock(&ag->vset_lock);
	key_bytes -= give_back < key_bytes ? give_back : key_bytes;
	room = key_bytes < ag->cfg.set_budget ? ag->cfg.set_budget - key_bytes : 0;
	room /= 8 + 2 * (uint64_t)width; /* an address and two values each */
	return room ? room : 1;
}

int agent_vset_add(agent_req *r, memscan_value_set *set, uint64_t bytes, agent_vset **ret)
{
	agent *ag = r->ag;
	agent_vset *v = calloc(1, sizeof(*v));
	uint64_t key_bytes;
	int err = MEMSCAN_OK;

	*ret = NULL;
	if (!v)
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory keeping the value set");
	pthread_mutex_lock(&ag->vset_lock);
	if (vset_usage(ag, r->s->client_pub, &key_bytes) >= ag->cfg.max_sets)
		err =
		    agent_fail(r, MEMSCAN_ERR_LIMIT,
		               "this key keeps %u value sets already, the most the agent's --max-sets "
		               "(max_sets) allows: release one (memscan release SET) or let idle ones expire",
		               ag->cfg.max_sets);
	if (err == MEMSCAN_OK)
		err = vset_charge(r, bytes, 0);
	if (err == MEMSCAN_OK) {
		do
			v->id = agent_random_id();
		while (vset_find(ag, r->s->client_pub, v->id));
		memcpy(v->owner, r->s->client_pub, sizeof(v->owner));
		v->set = set;
		v->bytes = bytes;
		v->busy = 1;
		v->used_ns = chan_monotonic_ns();
		v->next = ag->vsets;
		ag->vsets = v;
	}
	pthread_mutex_unlock(&ag->vset_lock);
	if (err != MEMSCAN_OK) {
		free(v);
		return err;
	}
	*ret = v;
	return MEMSCAN_OK;
}

int agent_vset_replace(agent_req *r, agent_vset *v, memscan_value_set *set, uint64_t bytes)
{
	agent *ag = r->ag;
	memscan_value_set *old = NULL;
	int err;

	pthread_mutex_lock(&ag->vset_lock);
	err = vset_charge(r, bytes, v->bytes);
	if (err == MEMSCAN_OK) {
		old = v->set;
		v->set = set;
		v->bytes = bytes;
	}
	pthread_mutex_unlock(&ag->vset_lock);
	memscan_value_set_free(old);
	return err;
}

/* Unlinks V from the store; vset_lock held. */
static void vset_unlink(agent *ag, agent_vset *v)
{
	for (agent_vset **pp = &ag->vsets; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			*pp = v->next;
			return;
		}
	}
}

static void vset_free(agent *ag, agent_vset *v)
{
	agent_global_release(ag, v->bytes);
	memscan_value_set_free(v->set);
	sodium_memzero(v, sizeof(*v));
	free(v);
}

void agent_vset_drop(agent *ag, agent_vset *v)
{
	pthread_mutex_lock(&ag->vset_lock);
	vset_unlink(ag, v);
	pthread_mutex_unlock(&ag->vset_lock);
	vset_free(ag, v);
}

int agent_vset_release(agent_req *r, uint64_t id)
{
	agent_vset *v;
	int err = agent_vset_claim(r, id, &v);

	if (err != MEMSCAN_OK)
		return err;
	r->pid = memscan_value_set_pid(v->set);
	r->bytes = v->bytes;
	agent_vset_drop(r->ag, v);
	return MEMSCAN_OK;
}

/* Drops the sets (not in use) for which DROP is true, logging each with WHY. */
static void vset_sweep(agent *ag, int (*drop)(agent *ag, const agent_vset *v, uint64_t now), const char *why)
{
	uint64_t now = chan_monotonic_ns();
	agent_vset *gone = NULL, **pp;
	char fp[KEYFILE_FINGERPRINT_LEN];

	pthread_mutex_lock(&ag->vset_lock);
	for (pp = &ag->vsets; *pp;) {
		agent_vset *v = *pp;

		if (v->busy || !drop(ag, v, now)) {
			pp = &v->next;
			continue;
		}
		*pp = v->next;
		v->next = gone;
		gone = v;
	}
	pthread_mutex_unlock(&ag->vset_lock);
	while (gone) {
		agent_vset *v = gone;

		gone = v->next;
		keyfile_fingerprint(v->owner, fp);
		agent_log("%s value set key=%s pid=%d bytes=%llu", why, fp, memscan_value_set_pid(v->set),
		          (unsigned long long)v->bytes);
		vset_free(ag, v);
	}
}

static int vset_idle(agent *ag, const agent_vset *v, uint64_t now)
{
	return now >= v->used_ns && now - v->used_ns > ag->cfg.set_idle_ms * 1000000ull;
}

void agent_vsets_expire(agent *ag)
{
	vset_sweep(ag, vset_idle, "expired (idle for longer than set_idle):");
}

/* True unless the authorized keys still grant V's owner the scan permission. */
static int vset_unauthorized(agent *ag, const agent_vset *v, uint64_t now)
{
	int found = 0;

	(void)now;
	pthread_mutex_lock(&ag->auth_lock);
	for (size_t i = 0; i < ag->auth_count && !found; i++)
		found = sodium_memcmp(ag->auth[i].pub, v->owner, KEYFILE_KEY_LEN) == 0 &&
		        (ag->auth[i].perms & CHAN_PERM_SCAN);
	pthread_mutex_unlock(&ag->auth_lock);
	return !found;
}

void agent_vsets_revoke(agent *ag)
{
	vset_sweep(ag, vset_unauthorized, "released (its key is no longer granted scan):");
}

void agent_vsets_free_all(agent *ag)
{
	pthread_mutex_lock(&ag->vset_lock);
	while (ag->vsets) {
		agent_vset *v = ag->vsets;

		ag->vsets = v->next;
		vset_free(ag, v);
	}
	pthread_mutex_unlock(&ag->vset_lock);
}
