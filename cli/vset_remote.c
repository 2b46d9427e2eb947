/* SPDX-License-Identifier: MIT */
/* Candidate sets held by an agent: the CLI's value commands on a remote target keep the set there
 * (libmemscan-client) and write a reference file instead of the set (docs/value-set-format.md). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cancel.h"
#include "output.h"
#include "progress.h"
#include "vset.h"

/* Candidates asked from the agent at a time while printing (printing stops after a few). */
#define REMOTE_PAGE 1024u

/* The agent's name in T's messages (" on HOST:PORT"): "HOST:PORT". */
static const char *agent_name(const struct cli_target *t)
{
	return strncmp(t->where, " on ", 4) == 0 ? t->where + 4 : t->where;
}

/* Prepares T's client for a long piece of the agent's work: Ctrl-C stops it at the agent's next
 * progress reply, and P draws WHAT's progress from those replies, against the total they give (an
 * agent without them: nothing shown). cli_progress_end_client ends P. */
static int remote_work_begin(struct cli_target *t, struct cli_progress *p, const char *what)
{
	int err = cli_cancel_attach_client(t->client);

	if (err == MEMSCAN_OK)
		cli_progress_start_client(p, t->client, what, 0, t->quiet);
	return err;
}

int cli_vset_remote_scan(struct cli_target *t, const struct cli_vregions *r, const struct cli_vquery *q,
                         const memscan_value_scan_options *opts, struct cli_vset *ret)
{
	struct cli_progress prog;
	int err;

	memset(ret, 0, sizeof(*ret));
	ret->t = t;
	err = remote_work_begin(t, &prog, "scan");
	if (err != MEMSCAN_OK)
		return err;
	if (!q->text)
		err = memscan_client_value_scan_unknown(t->client, t->pid, &r->filter, q->type, opts,
		                                        &ret->remote);
	else
		err = memscan_client_value_scan(t->client, t->pid, &r->filter, q->type, q->text, &q->vopts,
		                                opts, NULL, &ret->remote);
	cli_progress_end_client(&prog, t->client);
	ret->transient = err == MEMSCAN_OK; /* released at free unless saved */
	return err;
}

int cli_vset_remote_narrow(const struct cli_vset *set, const struct cli_vpred *p, uint64_t max,
                           struct cli_vset *ret)
{
	memscan_value_options vopts = { 0 };
	const char *text = p->text[0] ? p->text : NULL;
	struct cli_progress prog;
	int err;

	memset(ret, 0, sizeof(*ret));
	ret->t = set->t;
	/* a str operand was parsed in the set's encoding: UTF-16LE when its UTF-8 bytes do not fit */
	if (text && set->remote.type == MEMSCAN_VALUE_STR && strlen(text) != set->remote.width)
		vopts.flags |= MEMSCAN_VALUE_UTF16;
	/* the agent totals what it reads again: an unknown set's copy, or the pages holding candidates */
	err = remote_work_begin(set->t, &prog, "narrow");
	if (err != MEMSCAN_OK)
		return err;
	/* narrowed in place when SET is being replaced; otherwise a new set, which lives on if saved */
	err = memscan_client_value_narrow(set->t->client, set->remote.id, p->pred.kind, text, &vopts, max,
	                                  !set->replace, NULL, &ret->remote);
	cli_progress_end_client(&prog, set->t->client);
	ret->transient = err == MEMSCAN_OK && !set->replace;
	return err;
}

/* Stops memscan_client_value_candidates when the caller's callback does, remembering it did. */
struct remote_walk {
	memscan_candidate_fn fn;
	void *ctx;
	int stopped;
};

static int remote_walk_one(void *ctx, const memscan_candidate *c)
{
	struct remote_walk *w = ctx;

	if (w->fn(w->ctx, c)) {
		w->stopped = 1;
		return 1;
	}
	return 0;
}

int cli_vset_remote_foreach(const struct cli_vset *set, uint64_t first, memscan_candidate_fn fn, void *ctx)
{
	struct remote_walk w = { fn, ctx, 0 };
	uint64_t got = 0;
	int err;

	/* a page at a time: printing stops after a few candidates, and no more cross the network */
	do {
		err = memscan_client_value_candidates(set->t->client, set->remote.id, first, REMOTE_PAGE,
		                                      remote_walk_one, &w, &got);
		first += got;
	} while (err == MEMSCAN_OK && got == REMOTE_PAGE);
	return w.stopped ? MEMSCAN_ERR_STOPPED : err;
}

int cli_vset_remote_save(struct cli_vset *set, const char *path)
{
	memscan_client_vset_ref ref = { 0 }, old;
	int had_old, err;

	if ((size_t)snprintf(ref.agent, sizeof(ref.agent), "%s", agent_name(set->t)) >= sizeof(ref.agent))
		return MEMSCAN_ERR_INVALID_ARG;
	err = memscan_client_agent_fingerprint(set->t->client, ref.fingerprint);
	if (err != MEMSCAN_OK)
		return err;
	ref.set = set->remote;
	/* the file names a set of this agent: the set it named goes when the file stops naming it */
	had_old = memscan_client_vset_ref_probe(path) &&
	          memscan_client_vset_ref_load(path, &old) == MEMSCAN_OK &&
	          strcmp(old.fingerprint, ref.fingerprint) == 0 && old.set.id != ref.set.id;
	err = memscan_client_vset_ref_save(&ref, path);
	if (err != MEMSCAN_OK)
		return err;
	set->transient = 0;
	if (had_old && memscan_client_value_release(set->t->client, old.set.id) != MEMSCAN_OK) {
		/* the agent dropped it already (idle, or its process exited): nothing is left to do */
	}
	return MEMSCAN_OK;
}

static int ref_err(const char *path, int err)
{
	if (err == MEMSCAN_ERR_IO)
		cli_err("cannot read set file '%s': %s", path, strerror(errno));
	else if (err == MEMSCAN_ERR_UNSUPPORTED_VERSION)
		cli_err("set reference '%s' is of a format version this memscan cannot read: scan again with "
		        "'memscan remote scan ... -o'",
		        path);
	else
		cli_err("set reference '%s' is corrupt (a field or its checksum is wrong): scan again with "
		        "'memscan remote scan ... -o'",
		        path);
	return CLI_FAIL;
}

/* Loads the reference PATH and connects T to its agent (O's --identity), refusing another agent. */
static int open_ref(const struct cli_opts *o, const char *path, struct cli_target *t,
                    memscan_client_vset_ref *ref)
{
	int err = memscan_client_vset_ref_load(path, ref), rc;

	memset(t, 0, sizeof(*t));
	if (err != MEMSCAN_OK)
		return ref_err(path, err);
	rc = cli_target_open_host(o, ref->agent, t);
	if (rc != CLI_OK)
		return rc;
	t->pid = ref->set.pid;
	t->quiet = o->quiet; /* no progress line with --quiet */
	err = memscan_client_vset_ref_check(t->client, ref);
	return err == MEMSCAN_OK ? CLI_OK : cli_target_err(t, err, "checking the agent of the set");
}

int cli_vset_remote_open(const struct cli_opts *o, const char *path, struct cli_target *t,
                         struct cli_vset *ret)
{
	memscan_client_vset_ref ref;
	int rc = open_ref(o, path, t, &ref);

	memset(ret, 0, sizeof(*ret));
	if (rc != CLI_OK) {
		cli_target_close(t);
		return rc;
	}
	ret->t = t;
	ret->remote = ref.set;
	return CLI_OK;
}

void cli_vset_remote_free(struct cli_vset *set)
{
	/* a set made by this run and not saved: nobody can name it again */
	if (set->transient && set->remote.id &&
	    memscan_client_value_release(set->t->client, set->remote.id)) {
		/* the agent drops it by itself once idle */
	}
	memset(&set->remote, 0, sizeof(set->remote));
	set->transient = 0;
}

int cli_vset_release(const struct cli_opts *o, const char *path)
{
	memscan_client_vset_ref ref;
	struct cli_target t;
	int rc, err;

	if (!memscan_client_vset_ref_probe(path)) {
		/* a local set file: all there is of it is the file */
		if (unlink(path) == 0)
			return CLI_OK;
		cli_err("cannot release '%s': %s", path, strerror(errno));
		return CLI_FAIL;
	}
	rc = open_ref(o, path, &t, &ref);
	if (rc == CLI_OK) {
		err = memscan_client_value_release(t.client, ref.set.id);
		/* a set the agent no longer has (expired, its process exited) is released already */
		if (err != MEMSCAN_OK && err != MEMSCAN_ERR_NOT_FOUND)
			rc = cli_target_err(&t, err, "releasing the set");
	}
	if (rc == CLI_OK && unlink(path) != 0) {
		cli_err("the set was released, but '%s' cannot be deleted: %s", path, strerror(errno));
		rc = CLI_FAIL;
	}
	cli_target_close(&t);
	return rc;
}
