/* SPDX-License-Identifier: MIT */
/* memscan-bench --link: downloads through the agent over a loopback shaped by tc, against bare TCP. */
#include "remote.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memscan/client.h>

#define LINK_TARGET_SIZE (64ull << 20)

typedef struct bulk {
	int port;
	uint64_t bytes;
	int ok;
} bulk;

static void *bulk_send(void *arg)
{
	bulk *b = arg;
	static char buf[1 << 16];
	int fd = connect_loopback(b->port);
	uint64_t left = b->bytes;

	memset(buf, 0xA5, sizeof(buf));
	while (fd >= 0 && left) {
		ssize_t n = write(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n <= 0)
			break;
		left -= (uint64_t)n;
	}
	b->ok = fd >= 0 && left == 0;
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* What the link itself carries: BYTES over one plain TCP connection on 127.0.0.1, in GB/s (-1 on
 * failure). The receiver's clock runs from the accept to the last byte. */
static double tcp_rate(uint64_t bytes)
{
	static char buf[1 << 16];
	bulk b = { .bytes = bytes };
	int lfd = listen_loopback(&b.port), cfd = -1;
	uint64_t got = 0;
	double t0 = 0, rate = -1;
	pthread_t th;

	if (lfd < 0)
		return -1;
	if (pthread_create(&th, NULL, bulk_send, &b) != 0) {
		close(lfd);
		return -1;
	}
	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	t0 = now_s();
	while (cfd >= 0 && got < bytes) {
		ssize_t n = read(cfd, buf, sizeof(buf));
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	if (got == bytes)
		rate = (double)bytes / (now_s() - t0) / GB;
	if (cfd >= 0)
		close(cfd);
	pthread_join(th, NULL);
	close(lfd);
	return b.ok ? rate : -1;
}

/* Plain (into PLAIN) and compressed (into ZSTD) downloads of a LINK_TARGET_SIZE target filled with
 * FILL (NULL: random bytes), which WHAT names. */
static void link_fetches(const bench_opts *o, memscan_client *cl, const char *fill, const char *what,
                         figure *plain, figure *zstd)
{
	target t;

	if (target_start_ex(o, &t, LINK_TARGET_SIZE, 0, fill, 0) != 0) {
		fig_skip(plain, "the %s target did not start", what);
		fig_skip(zstd, "the %s target did not start", what);
		return;
	}
	bench_fetch_rate(o, cl, t.c.pid, 0, plain);
	bench_fetch_rate(o, cl, t.c.pid, 1, zstd);
	target_stop(&t);
}

void bench_link(const bench_opts *o)
{
	figure *ft =
	    fig_new("link.tcp", "GB/s", "one plain TCP connection over the shaped loopback (the link)");
	figure *fr = fig_new("link.fetch", "GB/s", "memscan_client_snapshot_fetch, 64 MiB random target");
	figure *frz = fig_new("link.fetch_zstd", "GB/s", "the same with --compress (random: sent raw)");
	figure *fh =
	    fig_new("link.fetch_heap", "GB/s", "memscan_client_snapshot_fetch, 64 MiB heap-like target");
	figure *fhz = fig_new("link.fetch_heap_zstd", "GB/s", "the same with --compress");
	memscan_client *cl = NULL;
	remote rm;
	ratio *r;

	for (int i = 0; i < o->slow_reps; i++) {
		double rate = tcp_rate(LINK_TARGET_SIZE);
		if (rate > 0)
			fig_add(ft, rate);
	}
	fig_note(ft, "tc tbf rate %s on lo", o->link_rate);
	if (remote_start(&rm, o) != 0 || remote_client_open(&rm, "main", rm.url, &cl) != MEMSCAN_OK) {
		figure *fs[] = { fr, frz, fh, fhz };
		for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
			fig_skip(fs[i], "the agent did not start or answer");
		remote_stop(&rm);
		return;
	}
	link_fetches(o, cl, NULL, "random", fr, frz);
	link_fetches(o, cl, "heap", "heap-like", fh, fhz);
	memscan_client_free(cl);
	remote_stop(&rm);

	/* the project's own expectations for a slow link (BENCH.md sets none) */
	r = ratio_new("link", "plain download / bare TCP on the link (random target)", 0.8, 0);
	ratio_set(r, fig_median("link.fetch") < 0 ? -1 : fig_median("link.fetch") / fig_median("link.tcp"));
	r = ratio_new("link", "--compress / plain, heap-like target", 1.0, 0);
	ratio_set(r, fig_median("link.fetch_heap") <= 0
	                 ? -1
	                 : fig_median("link.fetch_heap_zstd") / fig_median("link.fetch_heap"));
	r = ratio_new("link", "--compress / plain, random target (nothing shrinks)", 0.9, 0);
	ratio_set(
	    r, fig_median("link.fetch") <= 0 ? -1 : fig_median("link.fetch_zstd") / fig_median("link.fetch"));
}
