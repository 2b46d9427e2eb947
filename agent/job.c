/* SPDX-License-Identifier: MIT */
/* Long work answered with progress: a scan, kept snapshot, heat baseline, value scan or narrowing
 * asked with progress_ms runs on a thread of its own; the request that started it, and each Next
 * after it, waits for it at most progress_ms and is answered with Progress while it goes on. The work
 * is the session's pending result meanwhile, so any other request, or the session's end, stops and
 * drops it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"

/* Waits the agent keeps to: short enough that a client's progress line moves, long enough that a
 * long scan costs few round trips. */
#define AGENT_JOB_WAIT_MIN_MS 50u
#define AGENT_JOB_WAIT_MAX_MS 1000u

uint32_t agent_progress_wait_ms(uint32_t progress_ms)
{
	if (!progress_ms)
		return 0;
	return progress_ms < AGENT_JOB_WAIT_MIN_MS   ? AGENT_JOB_WAIT_MIN_MS
	       : progress_ms > AGENT_JOB_WAIT_MAX_MS ? AGENT_JOB_WAIT_MAX_MS
	                                             : progress_ms;
}

struct agent_job {
	agent *ag;
	agent_session *s;
	memscan_process *proc; /* the work's own handle: its cancel asks STOP and the session's */
	const agent_job_kind *kind;
	void *state; /* the kind's */
	uint64_t total;
	uint32_t wait_ms;
	atomic_uint_fast64_t done;
	atomic_uint_fast64_t read; /* of DONE, what PROC's reads reported: the audit's bytes */
	atomic_int stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished; /* under LOCK */
	int err;
	char msg[256];
};

int agent_job_cancelled(void *ctx)
{
	agent_job *j = ctx;

	return j && (atomic_load(&j->stop) || atomic_load(&j->s->cancel));
}

/* Raises *COUNTER to DONE (kept within J's total) unless it is there already. */
static void agent_job_raise(agent_job *j, atomic_uint_fast64_t *counter, uint64_t done)
{
	uint_fast64_t seen = atomic_load(counter);

	if (done > j->total)
		done = j->total; /* a client refuses more, even of a total of 0 */
	while (done > seen && !atomic_compare_exchange_weak(counter, &seen, done))
		;
}

void agent_job_report(void *ctx, uint64_t done)
{
	if (ctx)
		agent_job_raise(ctx, &((agent_job *)ctx)->done, done);
}

/* libmemscan's report of PROC's reads, possibly from several of the work's threads and not in order:
 * the most reported, within the total (libmemscan counts some bytes twice: a scan's overlap past each
 * unit, a unit scanned again when its matches overflowed, up to 1.6 times the total in a dense
 * scan). */
void agent_job_read(void *ctx, uint64_t done)
{
	agent_job *j = ctx;

	if (!j)
		return;
	agent_job_raise(j, &j->read, done);
	agent_job_raise(j, &j->done, done);
}

static void *agent_job_main(void *arg)
{
	agent_job *j = arg;
	int err = j->kind->run(j, j->proc, j->state, j->msg, sizeof(j->msg));

	/* the work is over: its place goes to the next, though its result may wait for its client's
	 * Next a while (a client that never asks would otherwise hold a place until its session ends) */
	atomic_fetch_sub(&j->ag->jobs, 1);
	pthread_mutex_lock(&j->lock);
	j->err = err;
	j->finished = 1;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static void agent_job_destroy(agent_job *j)
{
	pthread_mutex_destroy(&j->lock);
	pthread_cond_destroy(&j->cond);
	free(j);
}

/* Stops the work, waits for its thread and drops it with the kind's state. */
static void agent_job_free(agent_job *j)
{
	atomic_store(&j->stop, 1);
	pthread_join(j->thread, NULL);
	/* the audit line of the dropped work (written once it is dropped) says what it read */
	if (j->s->audit.op)
		j->s->audit.bytes += atomic_load(&j->read);
	j->kind->drop(j->ag, j->s, j->state);
	memscan_process_free(j->proc);
	agent_job_destroy(j);
}

static void agent_job_clear(agent_pending *p, int finish)
{
	(void)finish;
	if (p->u.job)
		agent_job_free(p->u.job);
	p->u.job = NULL;
}

static int agent_job_emit(agent_req *r);

static const agent_page_ops agent_job_ops = { agent_job_emit, agent_job_clear };

/* Waits for J at most its wait, then answers: the kind's reply when it is done (J freed, whatever
 * the outcome), else Progress with J kept as the session's pending result. */
static int agent_job_answer(agent_req *r, agent_job *j)
{
	Memscan__V1__Response resp = MEMSCAN__V1__RESPONSE__INIT;
	Memscan__V1__Progress pr = MEMSCAN__V1__PROGRESS__INIT;
	agent_pending *p = &r->s->pending;
	struct timespec until;
	int finished, err;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += j->wait_ms / 1000;
	until.tv_nsec += (long)(j->wait_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j->lock);
	while (!j->finished && pthread_cond_timedwait(&j->cond, &j->lock, &until) != ETIMEDOUT)
		;
	finished = j->finished;
	pthread_mutex_unlock(&j->lock);
	if (finished) {
		memscan_process *proc = j->proc;

		if (p->ops == &agent_job_ops) {
			p->u.job = NULL; /* handed to the kind below, not dropped with the pending result */
			agent_pending_clear(p);
		}
		pthread_join(j->thread, NULL);
		/* the process handle goes on with the result: it answers to the session from now on */
		if (memscan_process_set_progress(proc, NULL, NULL) != MEMSCAN_OK ||
		    agent_session_watch(r->s, proc) != MEMSCAN_OK) {
			j->kind->drop(j->ag, j->s, j->state);
			memscan_process_free(proc);
			agent_job_destroy(j);
			return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
		}
		r->bytes = atomic_load(&j->read); /* what failed work read: the kind's reply says more */
		err = j->kind->finish(r, proc, j->state, j->err, j->msg);
		agent_job_destroy(j);
		return err;
	}
	if (p->ops != &agent_job_ops) {
		agent_pending_start(r, &agent_job_ops);
		p->u.job = j;
	}
	resp.result_case = MEMSCAN__V1__RESPONSE__RESULT_PROGRESS;
	resp.progress = &pr;
	pr.done = atomic_load(&j->done); /* never past the total nor back: agent_job_progress */
	pr.total = j->total;
	pr.next_cursor = agent_page_cursor(p, 1);
	return agent_pack(r, &resp);
}

/* What the reads of work run on the worker covered (CTX: the counter), for its audit line. */
static void agent_inline_read(void *ctx, uint64_t done)
{
	atomic_store((atomic_uint_fast64_t *)ctx, done);
}

/* Runs KIND's work on the worker, as an operation asked without progress_ms does; R's audit counts
 * what its reads covered (the kind's FINISH says more of work that ran to its end). */
static int agent_job_inline(agent_req *r, memscan_process *proc, const agent_job_kind *kind, void *state)
{
	atomic_uint_fast64_t read = 0;
	char msg[256] = "";
	int counting = memscan_process_set_progress(proc, agent_inline_read, &read) == MEMSCAN_OK;
	int err = kind->run(NULL, proc, state, msg, sizeof(msg));

	if (counting && memscan_process_set_progress(proc, NULL, NULL) == MEMSCAN_OK) /* it cannot fail */
		r->bytes = atomic_load(&read);
	return kind->finish(r, proc, state, err, msg);
}

static int agent_job_emit(agent_req *r)
{
	return agent_job_answer(r, r->s->pending.u.job);
}

/* Jobs that may run at once: half the workers (at least one). Each Next of a running job holds a
 * worker for up to its wait, so the other half stays free for everyone else's requests. */
static unsigned agent_job_places(const agent *ag)
{
	return ag->cfg.workers > 1 ? ag->cfg.workers / 2 : 1;
}

/* Takes one of the agent's job places; 0 if none is free. */
static int agent_job_reserve(agent *ag)
{
	if ((unsigned)atomic_fetch_add(&ag->jobs, 1) < agent_job_places(ag))
		return 1;
	atomic_fetch_sub(&ag->jobs, 1);
	return 0;
}

int agent_job_wanted(agent *ag, uint32_t progress_ms)
{
	return progress_ms && (unsigned)atomic_load(&ag->jobs) < agent_job_places(ag);
}

static int agent_job_start(agent_req *r, memscan_process *proc, uint64_t total, uint32_t progress_ms,
                           const agent_job_kind *kind, void *state)
{
	agent_job *j = calloc(1, sizeof(*j));

	if (!j) {
		kind->drop(r->ag, r->s, state);
		memscan_process_free(proc);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "out of memory");
	}
	j->ag = r->ag;
	j->s = r->s;
	j->proc = proc;
	j->kind = kind;
	j->state = state;
	j->total = total;
	j->wait_ms = agent_progress_wait_ms(progress_ms);
	atomic_init(&j->done, 0);
	atomic_init(&j->read, 0);
	atomic_init(&j->stop, 0);
	pthread_mutex_init(&j->lock, NULL);
	if (agent_cond_init_monotonic(&j->cond) != 0) {
		pthread_mutex_destroy(&j->lock);
		free(j);
		return agent_job_inline(r, proc, kind, state);
	}
	if (!agent_job_reserve(r->ag)) {
		/* no place after all (another session took the last): the work runs here */
		pthread_mutex_destroy(&j->lock);
		pthread_cond_destroy(&j->cond);
		free(j);
		return agent_job_inline(r, proc, kind, state);
	}
	if (memscan_process_set_cancel(proc, agent_job_cancelled, j) != MEMSCAN_OK ||
	    memscan_process_set_progress(proc, agent_job_read, j) != MEMSCAN_OK ||
	    pthread_create(&j->thread, NULL, agent_job_main, j) != 0) {
		atomic_fetch_sub(&r->ag->jobs, 1); /* the place its thread would have given back */
		kind->drop(r->ag, r->s, state);
		memscan_process_free(proc);
		agent_job_destroy(j);
		return agent_fail(r, MEMSCAN_ERR_NO_MEMORY, "cannot start the work's thread");
	}
	return agent_job_answer(r, j);
}

int agent_job_run(agent_req *r, memscan_process *proc, uint64_t total, uint32_t progress_ms,
                  const agent_job_kind *kind, void *state)
{
	if (agent_job_wanted(r->ag, progress_ms))
		return agent_job_start(r, proc, total, progress_ms, kind, state);
	return agent_job_inline(r, proc, kind, state);
}
