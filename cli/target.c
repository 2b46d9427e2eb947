/* SPDX-License-Identifier: MIT */
/* The CLI's targets: local processes through libmemscan, remote ones through libmemscan-client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cancel.h"
#include "output.h"
#include "progress.h"
#include "target.h"

int cli_remote_mode;
const char *cli_pin_name;

/* A parsed remote address: host (without brackets), port, and the PID when there is one; or an
 * agent's local socket (ipc:///PATH, in HOST). */
struct endpoint {
	char host[256];
	int v6, ipc;
	int port_given; /* HOST:PORT:PID rather than HOST:PID */
	unsigned port;
	int pid;
};

static int host_char_ok(char c, int v6)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
	    c == '-' || c == '_')
		return 1;
	return v6 && (c == ':' || c == '%');
}

static int parse_uint(const char *s, size_t n, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (n == 0 || n > 10)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > max)
		return -1;
	*ret = v;
	return 0;
}

/* ipc:///PATH (WITH_PID = 0) or ipc:///PATH:PID. */
static int parse_ipc(const char *text, int with_pid, struct endpoint *ep)
{
	const char *end = with_pid ? strrchr(text, ':') : text + strlen(text);
	size_t n = (size_t)(end - text);
	unsigned long v;

	if (n <= 7 || n >= sizeof(ep->host) || strncmp(text, "ipc:///", 7))
		return -1;
	if (with_pid && parse_uint(end + 1, strlen(end + 1), 0x7fffffff, &v))
		return -1;
	memcpy(ep->host, text, n);
	ep->ipc = 1;
	ep->pid = with_pid ? (int)v : 0;
	return 0;
}

/* HOST[:PORT] (WITH_PID = 0) or HOST[:PORT]:PID; HOST may be [v6addr]; or an ipc:/// socket path. */
static int parse_endpoint(const char *text, int with_pid, struct endpoint *ep)
{
	const char *rest, *colon;
	size_t hlen;
	unsigned long v;

	memset(ep, 0, sizeof(*ep));
	ep->port = MEMSCAN_DEFAULT_PORT;
	if (!strncmp(text, "ipc://", 6))
		return parse_ipc(text, with_pid, ep);
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -1;
		hlen = (size_t)(close - text - 1);
		text++;
		rest = close[1] ? close + 2 : close + 1;
		ep->v6 = 1;
	} else {
		colon = strchr(text, ':');
		hlen = colon ? (size_t)(colon - text) : strlen(text);
		rest = colon ? colon + 1 : text + hlen;
	}
	if (hlen == 0 || hlen >= sizeof(ep->host))
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if (!host_char_ok(text[i], ep->v6))
			return -1;
	memcpy(ep->host, text, hlen);
	/* REST: "", "PORT", "PID", "PORT:PID" */
	colon = strchr(rest, ':');
	if (with_pid) {
		const char *pid_text = colon ? colon + 1 : rest;
		if (colon && parse_uint(rest, (size_t)(colon - rest), 65535, &v) == 0) {
			ep->port = (unsigned)v;
			ep->port_given = 1;
		} else if (colon)
			return -1;
		if (parse_uint(pid_text, strlen(pid_text), 0x7fffffff, &v))
			return -1;
		ep->pid = (int)v;
		return 0;
	}
	if (colon)
		return -1;
	if (*rest) {
		if (parse_uint(rest, strlen(rest), 65535, &v))
			return -1;
		ep->port = (unsigned)v;
	}
	return 0;
}

/* A PID argument that is not a number and names a file is a snapshot file. */
static int is_snapshot_file(const char *text)
{
	struct stat st;

	return text[0] && strspn(text, "0123456789") != strlen(text) && stat(text, &st) == 0;
}

int cli_target_host(const char *text, int with_pid, char *host, size_t host_len, unsigned *port, int *pid)
{
	struct endpoint ep;

	if (parse_endpoint(text, with_pid, &ep) || ep.ipc || ep.v6 || strlen(ep.host) >= host_len)
		return -1;
	snprintf(host, host_len, "%s", ep.host);
	*port = ep.port;
	*pid = ep.pid;
	return 0;
}

int cli_target_check(const char *text)
{
	struct endpoint ep;
	int pid;

	if (!cli_remote_mode && is_snapshot_file(text))
		return CLI_OK;
	if (!cli_remote_mode && text[0] && strspn(text, "0123456789") != strlen(text)) {
		cli_err(
		    "invalid PID '%s': expected a process ID (see 'memscan ps') or a snapshot file, and no "
		    "file is named so",
		    text);
		return CLI_USAGE;
	}
	if (!cli_remote_mode)
		return cli_parse_pid(text, &pid);
	if (parse_endpoint(text, 1, &ep) == 0)
		return CLI_OK;
	cli_err("invalid target '%s': expected HOST:PID, HOST:PORT:PID, [IPv6]:PORT:PID or "
	        "ipc:///PATH:PID (default port %d)",
	        text, MEMSCAN_DEFAULT_PORT);
	return CLI_USAGE;
}

/* The nng URL of EP into URL, and its name for messages ("HOST:PORT", "[V6]:PORT", "ipc:///PATH")
 * into NAME. */
static void endpoint_names(const struct endpoint *ep, char *url, size_t url_len, char *name, size_t name_len)
{
	if (ep->ipc) {
		snprintf(name, name_len, "%s", ep->host);
		snprintf(url, url_len, "%s", ep->host);
		return;
	}
	snprintf(name, name_len, ep->v6 ? "[%s]:%u" : "%s:%u", ep->host, ep->port);
	snprintf(url, url_len, "tcp://%s", name);
}

int cli_agent_address(const char *text, char *ret_url, size_t url_len, char *ret_name, size_t name_len)
{
	struct endpoint ep;

	if (parse_endpoint(text, 0, &ep)) {
		cli_err("invalid agent address '%s': expected HOST, HOST:PORT, [IPv6]:PORT or ipc:///PATH "
		        "(default port %d)",
		        text, MEMSCAN_DEFAULT_PORT);
		return CLI_USAGE;
	}
	endpoint_names(&ep, ret_url, url_len, ret_name, name_len);
	return CLI_OK;
}

/* HOST:N tries the default port: if nothing answered there, N may have been meant as the port. */
static void port_hint(const struct cli_target *t, const struct endpoint *ep, int err)
{
	const char *msg = memscan_client_last_error(t->client);

	if ((err != MEMSCAN_ERR_CONNECT && err != MEMSCAN_ERR_TIMEOUT) || !ep->pid || ep->ipc ||
	    ep->port_given || (msg && strstr(msg, "cannot resolve")))
		return;
	cli_err("if %d is a port, write %s%s%s:%d:PID", ep->pid, ep->v6 ? "[" : "", ep->host,
	        ep->v6 ? "]" : "", ep->pid);
}

/* Connects to EP with O's identity; prints errors, returns the exit code. */
static int remote_connect(const struct cli_opts *o, const struct endpoint *ep, struct cli_target *t)
{
	char url[300], name[280], identity[4096];
	int err;

	endpoint_names(ep, url, sizeof(url), name, sizeof(name));
	snprintf(t->where, sizeof(t->where), " on %s", name);
	if (o->identity)
		snprintf(identity, sizeof(identity), "%s", o->identity);
	else if (memscan_key_default_identity(identity, sizeof(identity)) != MEMSCAN_OK) {
		cli_err(
		    "no identity key: pass --identity FILE, or set HOME (then 'memscan keygen' makes one)");
		return CLI_USAGE;
	}
	err = memscan_client_new(&t->client);
	if (err == MEMSCAN_OK && o->compress)
		err = memscan_client_set_compression(t->client, 1);
	if (err == MEMSCAN_OK && cli_pin_name)
		err = memscan_client_set_agent_name(t->client, cli_pin_name);
	if (err == MEMSCAN_OK)
		err = memscan_client_set_identity_file(t->client, identity);
	if (err != MEMSCAN_OK) {
		cli_err("cannot use identity key '%s': %s%s", identity,
		        t->client ? memscan_client_last_error(t->client) : memscan_strerror(err),
		        o->identity ? "" : " (create one with 'memscan keygen')");
		return CLI_FAIL;
	}
	err = memscan_client_connect(t->client, url);
	if (err != MEMSCAN_OK) {
		int ret = cli_target_err(t, err, "connecting");

		port_hint(t, ep, err);
		return ret;
	}
	return CLI_OK;
}

int cli_target_open(const struct cli_opts *o, const char *text, struct cli_target *t)
{
	struct endpoint ep;
	int ret, err;

	memset(t, 0, sizeof(*t));
	ret = cli_target_check(text);
	if (ret != CLI_OK)
		return ret;
	t->quiet = o->quiet;
	if (!cli_remote_mode && is_snapshot_file(text)) {
		err = memscan_process_open_file(text, &t->proc);
		if (err != MEMSCAN_OK)
			return cli_snapfile_err(err, "opening the snapshot file");
		t->pid = memscan_process_pid(t->proc);
		snprintf(t->where, sizeof(t->where), " in snapshot %s", text);
		return CLI_OK;
	}
	if (!cli_remote_mode) {
		cli_parse_pid(text, &t->pid);
		err = memscan_process_open(t->pid, &t->proc);
		/* --read-absent: pages pagemap reports never written are read, not zero-filled, so that a
		 * target whose memory is supplied on demand (userfaultfd) shows what it supplies */
		if (err == MEMSCAN_OK && o->read_absent)
			err = memscan_process_set_skip_absent(t->proc, 0);
		if (err == MEMSCAN_OK)
			err = cli_cancel_attach(t->proc); /* Ctrl-C stops a long scan, snapshot or diff */
		return err == MEMSCAN_OK ? CLI_OK : cli_lib_err(err, t->pid, "opening the process");
	}
	parse_endpoint(text, 1, &ep);
	t->pid = ep.pid;
	return remote_connect(o, &ep, t);
}

int cli_target_need_process(const struct cli_target *t, const char *why)
{
	if (!t->proc || !memscan_process_is_file(t->proc))
		return CLI_OK;
	cli_err("%s", why);
	return CLI_USAGE;
}

const char *cli_target_name(void)
{
	return cli_remote_mode ? "TARGET (HOST[:PORT]:PID or ipc:///PATH:PID)" : "PID";
}

int cli_target_open_host(const struct cli_opts *o, const char *text, struct cli_target *t)
{
	struct endpoint ep;

	memset(t, 0, sizeof(*t));
	if (parse_endpoint(text, 0, &ep)) {
		cli_err("invalid agent address '%s': expected HOST, HOST:PORT, [IPv6]:PORT or ipc:///PATH "
		        "(default port %d)",
		        text, MEMSCAN_DEFAULT_PORT);
		return CLI_USAGE;
	}
	return remote_connect(o, &ep, t);
}

void cli_target_close(struct cli_target *t)
{
	memscan_process_free(t->proc);
	memscan_client_free(t->client);
	memset(t, 0, sizeof(*t));
}

/* What to do about ERR, whose agent message is MSG. */
static const char *remote_hint(int err, const char *msg)
{
	switch (err) {
	case MEMSCAN_ERR_CONNECT: /* refused and unresolvable say what to check already */
		if (msg && (strstr(msg, "refused") || strstr(msg, "resolve")))
			return "";
		return " (is memscan-agent running there, and is the address reachable?)";
	case MEMSCAN_ERR_TIMEOUT:
		return " (the agent did not answer in time)";
	case MEMSCAN_ERR_DENIED: /* the agent and its threads are refused to every key alike */
		if (msg && strstr(msg, "never served"))
			return "";
		return " (the agent's authorized_keys does not grant this key that; ask its administrator)";
	default:
		return "";
	}
}

int cli_target_err(const struct cli_target *t, int err, const char *what)
{
	const char *msg;

	if (!t->client)
		return cli_lib_err(err, t->pid, what);
	msg = memscan_client_last_error(t->client);
	switch (err) {
	case MEMSCAN_ERR_NO_PROCESS:
		cli_err("no process with PID %d%s (list them with 'memscan remote ps')", t->pid, t->where);
		return CLI_FAIL;
	case MEMSCAN_ERR_PROCESS_GONE:
		cli_err("PID %d%s exited while %s", t->pid, t->where, what);
		return CLI_FAIL;
	case MEMSCAN_ERR_CANCELLED:
		cli_err("interrupted while %s%s", what, t->where);
		return CLI_FAIL;
	case MEMSCAN_ERR_INVALID_ARG:
	case MEMSCAN_ERR_BAD_PATTERN:
		cli_err("%s%s: %s", what, t->where, msg && *msg ? msg : memscan_strerror(err));
		return CLI_USAGE;
	default:
		cli_err("%s%s failed: %s%s", what, t->where, msg && *msg ? msg : memscan_strerror(err),
		        remote_hint(err, msg));
		return CLI_FAIL;
	}
}

int cli_target_regions(struct cli_target *t, const memscan_filter *filter, memscan_region_list **ret)
{
	if (t->client)
		return memscan_client_list_regions(t->client, t->pid, filter, ret);
	return memscan_regions_read(t->proc, filter, ret);
}

void cli_target_filter(const struct cli_filter *user, memscan_filter *ret_filter)
{
	memscan_filter_default(ret_filter);
	cli_filter_apply(user, ret_filter);
}

int cli_target_select(struct cli_target *t, const struct cli_filter *user, memscan_filter *ret_filter,
                      memscan_region_list **ret_list)
{
	int err;

	cli_target_filter(user, ret_filter);
	err = cli_target_regions(t, ret_filter, ret_list);
	return err == MEMSCAN_OK ? CLI_OK : cli_target_err(t, err, "reading the memory map");
}

int cli_target_read(struct cli_target *t, uint64_t addr, void *buf, size_t len, memscan_ranges *holes)
{
	if (t->client)
		return memscan_client_read(t->client, t->pid, addr, buf, len, holes);
	return memscan_read(t->proc, addr, buf, len, holes);
}

int cli_target_scan(struct cli_target *t, const memscan_filter *filter, const memscan_region_list *list,
                    const char *pattern_text, const memscan_pattern *pattern,
                    const memscan_scan_options *opts, memscan_match_fn on_match, void *ctx)
{
	struct cli_progress p;
	int err;

	if (t->client) {
		/* the agent says how far its scan is, of what total, a few times a second (an old agent:
		 * nothing shown), and Ctrl-C stops it at the next of those */
		err = cli_cancel_attach_client(t->client);
		if (err != MEMSCAN_OK)
			return err;
		cli_progress_start_client(&p, t->client, "scan", 0, t->quiet);
		err = memscan_client_scan(t->client, t->pid, filter, pattern_text, opts, on_match, ctx, NULL);
		cli_progress_end_client(&p, t->client);
		return err;
	}
	cli_progress_start(&p, t->proc, "scan", memscan_region_list_bytes(list), t->quiet);
	err = memscan_scan(t->proc, list, pattern, opts, on_match, ctx, NULL);
	cli_progress_end(&p, t->proc);
	return err;
}

int cli_target_download(struct cli_target *t, const memscan_filter *filter, const char *path,
                        memscan_snapshot_file_info *info)
{
	struct cli_progress p;
	int err;

	/* Ctrl-C stops the download at the next page, and the temporary file goes with it */
	err = cli_cancel_attach_client(t->client);
	if (err != MEMSCAN_OK)
		return err;
	/* streamed: the agent reads each page live, as the local snapshot does, and keeps nothing; the
	 * library lists the regions and totals the line with their bytes */
	cli_progress_start_client(&p, t->client, "download", 0, t->quiet);
	err = memscan_client_snapshot_write(t->client, t->pid, filter, path, info);
	cli_progress_end_client(&p, t->client);
	return err;
}

/* The baseline kept on the agent: the progress line counts what the agent has read of the regions it
 * selected (an agent without progress reports shows none), and Ctrl-C stops it. */
static int watch_begin_remote(struct cli_watch *w, struct cli_target *t, const memscan_filter *filter)
{
	struct cli_progress p;
	int err = cli_cancel_attach_client(t->client);

	if (err != MEMSCAN_OK)
		return err;
	cli_progress_start_client(&p, t->client, "baseline", 0, t->quiet);
	err = memscan_client_snapshot(t->client, t->pid, filter, &w->remote_id, NULL, NULL);
	cli_progress_end_client(&p, t->client);
	return err;
}

int cli_watch_begin(struct cli_watch *w, struct cli_target *t, const memscan_filter *filter)
{
	memscan_region_list *list = NULL;
	struct cli_progress p;
	int err;

	memset(w, 0, sizeof(*w));
	w->t = t;
	w->filter = *filter;
	if (t->client)
		return watch_begin_remote(w, t, filter);
	err = memscan_regions_read(t->proc, filter, &list);
	if (err == MEMSCAN_OK)
		err = memscan_detector_new(&w->det);
	if (err == MEMSCAN_OK) {
		cli_progress_start(&p, t->proc, "baseline", memscan_region_list_bytes(list), t->quiet);
		err = memscan_detector_initialize(w->det, t->proc, list);
		cli_progress_end(&p, t->proc);
	}
	memscan_region_list_free(list);
	return err;
}

int cli_watch_detect(struct cli_watch *w, int accept, memscan_diff **ret)
{
	memscan_region_list *list = NULL;
	struct cli_progress p;
	int err;

	if (w->t->client) {
		/* the agent says how far each comparison is, of what total */
		cli_progress_start_client(&p, w->t->client, "diff", 0, w->t->quiet);
		err = memscan_client_diff(w->t->client, w->remote_id,
		                          (accept ? MEMSCAN_DIFF_UPDATE : 0) | MEMSCAN_DIFF_REFILTER, ret);
		cli_progress_end_client(&p, w->t->client);
		return err;
	}
	/* list the regions again, so regions that appeared or vanished are reported */
	err = memscan_regions_read(w->t->proc, &w->filter, &list);
	/* what was just compared becomes the baseline: with ACCEPT a change made after this read shows
	 * next time, none falls between two reads; without, the baseline is not used again, and the
	 * streamed detection holds one copy of the target where detect_changes would hold two */
	if (err == MEMSCAN_OK) {
		cli_progress_start(&p, w->t->proc, "diff", memscan_region_list_bytes(list), w->t->quiet);
		err = memscan_detector_detect_update(w->det, w->t->proc, list, ret);
		cli_progress_end(&p, w->t->proc);
	}
	memscan_region_list_free(w->list);
	w->list = list;
	return err;
}

void cli_watch_end(struct cli_watch *w)
{
	if (w->t && w->t->client && w->remote_id) {
		int err = memscan_client_release(w->t->client, w->remote_id);
		(void)err; /* nothing to do about it: the session ending frees it too */
	}
	memscan_detector_free(w->det);
	memscan_region_list_free(w->list);
	memset(w, 0, sizeof(*w));
}
