/* SPDX-License-Identifier: MIT */
/* memscan-bench's counting TCP relay on loopback, to measure the bytes on the wire; loopback sockets. */
#include "remote.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int connect_loopback(int port)
{
	struct sockaddr_in sa = { 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int relay(int from, int to, char *buf, size_t len, proxy *p)
{
	ssize_t n = read(from, buf, len);

	if (n <= 0)
		return -1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w <= 0)
			return -1;
		off += w;
	}
	atomic_fetch_add(&p->bytes, (uint64_t)n);
	return 0;
}

static void *proxy_main(void *arg)
{
	proxy *p = arg;
	static char buf[1 << 16];

	while (!atomic_load(&p->stop)) {
		struct pollfd lp = { p->lfd, POLLIN, 0 };
		int cfd, ufd, one = 1;

		if (poll(&lp, 1, 100) <= 0)
			continue;
		cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ufd = connect_loopback(p->up_port);
		while (ufd >= 0 && !atomic_load(&p->stop)) {
			struct pollfd pf[2] = { { cfd, POLLIN, 0 }, { ufd, POLLIN, 0 } };

			if (poll(pf, 2, 100) < 0)
				break;
			if (pf[0].revents && relay(cfd, ufd, buf, sizeof(buf), p) != 0)
				break;
			if (pf[1].revents && relay(ufd, cfd, buf, sizeof(buf), p) != 0)
				break;
		}
		if (ufd >= 0)
			close(ufd);
		close(cfd);
	}
	return NULL;
}

/* A listening socket on 127.0.0.1 at a port the kernel picks (*RET_PORT), or -1. */
int listen_loopback(int *ret_port)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*ret_port = ntohs(sa.sin_port);
	return fd;
}

int proxy_start(proxy *p, int up_port)
{
	memset(p, 0, sizeof(*p));
	p->up_port = up_port;
	p->lfd = listen_loopback(&p->port);
	if (p->lfd < 0)
		return -1;
	if (pthread_create(&p->th, NULL, proxy_main, p) != 0) {
		close(p->lfd);
		return -1;
	}
	return 0;
}

void proxy_stop(proxy *p)
{
	atomic_store(&p->stop, 1);
	pthread_join(p->th, NULL);
	close(p->lfd);
}

int url_port(const char *url)
{
	const char *colon = strrchr(url, ':');

	return colon ? (int)strtol(colon + 1, NULL, 10) : -1;
}
