/* SPDX-License-Identifier: MIT */
/* Dialing within a time limit: nng 1.5's synchronous dial waits as long as the kernel's connect
 * does (minutes for a host that drops SYNs), so a watchdog thread closes the socket when the dial
 * outlasts the limit, which ends the dial with NNG_ECLOSED. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <nng/nng.h>

#include "client_internal.h"

struct dial_watch {
	pthread_mutex_t lock;
	pthread_cond_t done; /* signalled when the dial returned */
	int dialing, timed_out;
	nng_socket sock;
	struct timespec deadline; /* CLOCK_MONOTONIC */
};

static void *dial_watchdog(void *arg)
{
	struct dial_watch *w = arg;
	int expired = 0;

	pthread_mutex_lock(&w->lock);
	while (w->dialing && !expired)
		expired = pthread_cond_timedwait(&w->done, &w->lock, &w->deadline) == ETIMEDOUT;
	if (w->dialing && expired)
		w->timed_out = 1;
	pthread_mutex_unlock(&w->lock);
	if (w->timed_out)
		nng_close(w->sock); /* the dial returns NNG_ECLOSED */
	return NULL;
}

int client_dial_within(nng_socket sock, const char *url, int timeout_ms, int *ret_timed_out)
{
	struct dial_watch w = { .dialing = 1, .sock = sock };
	pthread_condattr_t attr;
	pthread_t thread;
	int rv, watched;

	*ret_timed_out = 0;
	clock_gettime(CLOCK_MONOTONIC, &w.deadline);
	w.deadline.tv_sec += timeout_ms / 1000;
	w.deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (w.deadline.tv_nsec >= 1000000000L) {
		w.deadline.tv_sec++;
		w.deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_init(&w.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.done, &attr);
	pthread_condattr_destroy(&attr);
	/* without the watchdog (no thread to be had) the dial is as long as the kernel's connect */
	watched = pthread_create(&thread, NULL, dial_watchdog, &w) == 0;
	rv = nng_dial(sock, url, NULL, 0);
	pthread_mutex_lock(&w.lock);
	w.dialing = 0;
	pthread_cond_signal(&w.done);
	pthread_mutex_unlock(&w.lock);
	if (watched)
		pthread_join(thread, NULL);
	pthread_cond_destroy(&w.done);
	pthread_mutex_destroy(&w.lock);
	*ret_timed_out = w.timed_out;
	return rv;
}
