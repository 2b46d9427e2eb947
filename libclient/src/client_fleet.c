/* SPDX-License-Identifier: MIT */
/* Fleets: a hosts file or a name with many addresses as members, and a callback per member run on
 * threads, each with a connected client of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

struct fleet_list {
	memscan_fleet_member *m;
	size_t count;
};

__attribute__((format(printf, 4, 5))) static int fleet_fail(char *err, size_t err_len, int code,
                                                            const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int host_ok(const char *h, size_t n, int v6)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '-' || c == '_' || (v6 && (c == ':' || c == '%'))))
			return 0;
	}
	return 1;
}

/* TEXT: HOST, HOST:PORT or [V6]:PORT into HOST (brackets removed), *PORT and *V6. 0 or -1. */
static int split_member(const char *text, char *host, size_t host_len, unsigned *port, int *v6)
{
	const char *colon, *end;
	unsigned long v = MEMSCAN_DEFAULT_PORT;
	char *stop;

	*v6 = text[0] == '[';
	end = *v6 ? strchr(text, ']') : text + strcspn(text, ":");
	if (!end)
		return -1;
	colon = *v6 ? (end[1] == ':' ? end + 1 : NULL) : (*end == ':' ? end : NULL);
	if ((*v6 && end[1] && !colon) || (colon && strchr(colon + 1, ':')))
		return -1;
	if (colon) {
		errno = 0;
		v = strtoul(colon + 1, &stop, 10);
		if (errno || *stop || colon[1] < '0' || colon[1] > '9' || v < 1 || v > 65535)
			return -1;
	}
	text += *v6;
	if ((size_t)(end - text) >= host_len || !host_ok(text, (size_t)(end - text), *v6))
		return -1;
	snprintf(host, host_len, "%.*s", (int)(end - text), text);
	*port = (unsigned)v;
	return 0;
}

/* Appends a member labelled LABEL at HOST:PORT, its key looked up under PIN_NAME. */
static int add_member(struct fleet_list *l, const char *label, const char *host, int v6, unsigned port,
                      const char *pin_name)
{
	memscan_fleet_member *m;

	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->m[i].host, label))
			return MEMSCAN_OK;
	if (l->count == MEMSCAN_FLEET_MAX)
		return MEMSCAN_ERR_LIMIT;
	if (!l->m && !(l->m = calloc(MEMSCAN_FLEET_MAX, sizeof(*l->m))))
		return MEMSCAN_ERR_NO_MEMORY;
	m = &l->m[l->count++];
	snprintf(m->host, sizeof(m->host), "%s", label);
	snprintf(m->url, sizeof(m->url), v6 ? "tcp://[%s]:%u" : "tcp://%s:%u", host, port);
	if (pin_name)
		snprintf(m->pin_name, sizeof(m->pin_name), "%s", pin_name);
	else
		snprintf(m->pin_name, sizeof(m->pin_name), v6 ? "[%s]:%u" : "%s:%u", host, port);
	return MEMSCAN_OK;
}

/* HOST:PORT as one member per address when it resolves to several of one family, else as itself. */
static int add_name(struct fleet_list *l, const char *text, char *err, size_t err_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL, *p;
	char host[MEMSCAN_FLEET_NAME_LEN], addr[NI_MAXHOST], label[MEMSCAN_FLEET_NAME_LEN], pin[300];
	size_t n4 = 0, n6 = 0;
	unsigned char probe[16];
	unsigned port;
	int v6, family, rv = MEMSCAN_OK;

	if (split_member(text, host, sizeof(host), &port, &v6))
		return fleet_fail(err, err_len, MEMSCAN_ERR_INVALID_ARG,
		                  "bad agent address '%.80s' (want HOST, HOST:PORT or [IPv6]:PORT)", text);
	if (v6 || inet_pton(AF_INET, host, probe) == 1 || getaddrinfo(host, NULL, &hints, &ai))
		return add_member(l, text, host, v6, port, NULL);
	for (p = ai; p; p = p->ai_next) {
		n4 += p->ai_family == AF_INET;
		n6 += p->ai_family == AF_INET6;
	}
	family = n4 >= 2 ? AF_INET : AF_INET6;
	snprintf(pin, sizeof(pin), "%s:%u", host, port);
	if (n4 < 2 && n6 < 2)
		rv = add_member(l, text, host, 0, port, NULL);
	for (p = ai; rv == MEMSCAN_OK && (n4 >= 2 || n6 >= 2) && p; p = p->ai_next)
		if (p->ai_family == family &&
		    !getnameinfo(p->ai_addr, p->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST)) {
			snprintf(label, sizeof(label), family == AF_INET6 ? "[%s]:%u" : "%s:%u", addr, port);
			rv = add_member(l, label, addr, family == AF_INET6, port, pin);
		}
	freeaddrinfo(ai);
	return rv;
}

/* One line of a hosts file: a single member, blanks and # comments ignored. */
static int add_line(struct fleet_list *l, const char *path, unsigned no, char *line, char *err,
                    size_t err_len)
{
	char *p = line + strspn(line, " \t"), *end = p + strcspn(p, "#\r\n"), host[MEMSCAN_FLEET_NAME_LEN];
	unsigned port;
	int v6, rv;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (!*p)
		return MEMSCAN_OK;
	if (strlen(p) >= MEMSCAN_FLEET_NAME_LEN || split_member(p, host, sizeof(host), &port, &v6))
		return fleet_fail(err, err_len, MEMSCAN_ERR_INVALID_ARG,
		                  "%s:%u: want one HOST, HOST:PORT or [IPv6]:PORT a line", path, no);
	rv = add_member(l, p, host, v6, port, NULL);
	if (rv == MEMSCAN_ERR_LIMIT)
		return fleet_fail(err, err_len, rv, "%s: more than %d hosts: split the fleet", path,
		                  MEMSCAN_FLEET_MAX);
	return rv;
}

static int read_hosts_file(struct fleet_list *l, const char *path, char *err, size_t err_len)
{
	char line[1024];
	unsigned no = 0;
	int rv = MEMSCAN_OK;
	FILE *in = fopen(path, "re");

	if (!in)
		return fleet_fail(err, err_len, MEMSCAN_ERR_IO, "cannot open hosts file %s: %s", path,
		                  strerror(errno));
	while (rv == MEMSCAN_OK && fgets(line, sizeof(line), in))
		rv = add_line(l, path, ++no, line, err, err_len);
	fclose(in);
	if (rv == MEMSCAN_OK && !l->count)
		rv = fleet_fail(err, err_len, MEMSCAN_ERR_INVALID_ARG, "%s: no hosts in it", path);
	return rv;
}

int memscan_fleet_resolve(const char *spec, memscan_fleet_member **ret_members, size_t *ret_count, char *err,
                          size_t err_len)
{
	struct fleet_list l = { 0 };
	int rv;

	if (ret_members)
		*ret_members = NULL;
	if (ret_count)
		*ret_count = 0;
	if (err && err_len)
		err[0] = '\0';
	if (!spec || !spec[0] || !ret_members || !ret_count)
		return fleet_fail(err, err_len, MEMSCAN_ERR_INVALID_ARG, "fleet: bad arguments");
	rv = spec[0] == '@' ? read_hosts_file(&l, spec + 1, err, err_len) : add_name(&l, spec, err, err_len);
	if (rv == MEMSCAN_ERR_NO_MEMORY)
		fleet_fail(err, err_len, rv, "out of memory");
	if (rv != MEMSCAN_OK) {
		free(l.m);
		return rv;
	}
	*ret_members = l.m;
	*ret_count = l.count;
	return MEMSCAN_OK;
}

struct fleet_run {
	const memscan_fleet_member *m;
	size_t count;
	const memscan_fleet_options *opts;
	memscan_fleet_fn fn;
	void *ctx;
	int *results;
	atomic_size_t next;
};

/* A client for member M with OPTS' settings, connected (or the reason it is not). */
static int member_connect(const struct fleet_run *r, const memscan_fleet_member *m, memscan_client *c)
{
	int rv = MEMSCAN_OK;

	if (r->opts && r->opts->identity_file)
		rv = memscan_client_set_identity_file(c, r->opts->identity_file);
	if (rv == MEMSCAN_OK && r->opts && r->opts->known_agents_file)
		rv = memscan_client_set_known_agents_file(c, r->opts->known_agents_file);
	if (rv == MEMSCAN_OK && r->opts && r->opts->timeout_ms > 0)
		rv = memscan_client_set_timeout_ms(c, r->opts->timeout_ms);
	if (rv == MEMSCAN_OK)
		rv = memscan_client_set_agent_name(c, m->pin_name);
	return rv == MEMSCAN_OK ? memscan_client_connect(c, m->url) : rv;
}

static void *fleet_worker(void *arg)
{
	struct fleet_run *r = arg;
	size_t i;

	while ((i = atomic_fetch_add(&r->next, 1)) < r->count) {
		memscan_client *c = NULL;
		int rv = memscan_client_new(&c);

		if (rv == MEMSCAN_OK)
			rv = r->fn(r->ctx, &r->m[i], c, member_connect(r, &r->m[i], c));
		r->results[i] = rv;
		memscan_client_free(c);
	}
	return NULL;
}

int memscan_fleet_run(const memscan_fleet_member *members, size_t count, const memscan_fleet_options *opts,
                      memscan_fleet_fn fn, void *ctx, int *results)
{
	struct fleet_run r = { .m = members, .count = count, .opts = opts, .fn = fn, .ctx = ctx };
	size_t nthreads = opts && opts->parallel > 0 ? (size_t)opts->parallel : MEMSCAN_FLEET_PARALLEL;
	pthread_t threads[256];
	size_t started = 0;
	int rv = MEMSCAN_OK;

	if (!members || !count || !fn || count > MEMSCAN_FLEET_MAX)
		return MEMSCAN_ERR_INVALID_ARG;
	r.results = results ? results : calloc(count, sizeof(int));
	if (!r.results)
		return MEMSCAN_ERR_NO_MEMORY;
	atomic_init(&r.next, 0);
	if (nthreads > count)
		nthreads = count;
	if (nthreads > sizeof(threads) / sizeof(threads[0]))
		nthreads = sizeof(threads) / sizeof(threads[0]);
	while (started < nthreads && pthread_create(&threads[started], NULL, fleet_worker, &r) == 0)
		started++;
	if (!started)
		fleet_worker(&r); /* no thread to be had: one member after the other on this one */
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	for (size_t i = 0; i < count && rv == MEMSCAN_OK; i++)
		rv = r.results[i];
	if (!results)
		free(r.results);
	return rv;
}
