/* SPDX-License-Identifier: MIT */
/* Agent configuration: defaults, the `Key = Value` config file, and command-line flags over it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "grow.h"

#define AGENT_DEFAULT_KEY  "/etc/memscan/agent.key"
#define AGENT_DEFAULT_AUTH "/etc/memscan/authorized_keys"

enum agent_opt {
	OPT_LISTEN,
	OPT_KEY,
	OPT_AUTH,
	OPT_WORKERS,
	OPT_MAX_CONN,
	OPT_MAX_PEER,
	OPT_SESSION_BUDGET,
	OPT_GLOBAL_BUDGET,
	OPT_HS_TIMEOUT,
	OPT_MAX_SNAPSHOTS,
	OPT_READ_ABSENT,
	OPT_SET_IDLE,
	OPT_MAX_SETS,
	OPT_SET_BUDGET,
	OPT_KEYSCAN,
};

/* Every setting: its config-file key and its flag. A switch's flag takes no value: it stands for
 * SWITCH_VALUE, which the config file spells out. */
static const struct agent_opt_name {
	const char *key;
	const char *flag;
	int opt;
	const char *switch_value;
} agent_opts[] = {
	{ "listen", "--listen", OPT_LISTEN, NULL },
	{ "key", "--key", OPT_KEY, NULL },
	{ "authorized_keys", "--authorized-keys", OPT_AUTH, NULL },
	{ "workers", "--workers", OPT_WORKERS, NULL },
	{ "max_connections", "--max-connections", OPT_MAX_CONN, NULL },
	{ "max_connections_per_peer", "--max-per-peer", OPT_MAX_PEER, NULL },
	{ "session_budget", "--session-budget", OPT_SESSION_BUDGET, NULL },
	{ "global_budget", "--global-budget", OPT_GLOBAL_BUDGET, NULL },
	{ "handshake_timeout_ms", "--handshake-timeout", OPT_HS_TIMEOUT, NULL },
	{ "max_snapshots", "--max-snapshots", OPT_MAX_SNAPSHOTS, NULL },
	{ "read_absent", "--read-absent", OPT_READ_ABSENT, "yes" },
	{ "set_idle", "--set-idle", OPT_SET_IDLE, NULL },
	{ "max_sets", "--max-sets", OPT_MAX_SETS, NULL },
	{ "set_budget", "--set-budget", OPT_SET_BUDGET, NULL },
	{ "keyscan", "--no-keyscan", OPT_KEYSCAN, "no" },
};

static void agent_usage(FILE *out)
{
	fprintf(out,
	        "usage: memscan-agent --listen URL [--listen URL ...] [options]\n"
	        "Serves memscan clients over an authenticated, encrypted channel (docs/protocol.md).\n"
	        "  --listen URL              tcp://HOST:PORT (port 0 = any) or ipc://PATH; repeatable, up to "
	        "256\n"
	        "  --key FILE                agent private key (default " AGENT_DEFAULT_KEY ")\n"
	        "  --authorized-keys FILE    authorized client keys (default " AGENT_DEFAULT_AUTH ")\n"
	        "  --config FILE             'Key = Value' settings; flags override them\n"
	        "  --workers N               request worker threads (default 8)\n"
	        "  --max-connections N       connections in all (default 256)\n"
	        "  --max-per-peer N          connections per peer address (default 32)\n"
	        "  --session-budget BYTES    bytes a session keeps (snapshots, results waiting for their\n"
	        "                            next page), K/M/G suffixes (default 1G)\n"
	        "  --global-budget BYTES     bytes all sessions keep (default 4G)\n"
	        "  --handshake-timeout MS    close connections without a handshake after MS (default 5000)\n"
	        "  --max-snapshots N         snapshots one session may keep, 1 to 256 (default 64)\n"
	        "  --read-absent             read pages the kernel reports as never written instead of\n"
	        "                            treating them as zeros (for memory supplied on demand, e.g.\n"
	        "                            userfaultfd); config: read_absent = yes\n"
	        "  --set-idle DURATION       drop a value set unused this long: N[ms|s|m|h], seconds\n"
	        "                            without a unit (default 30m)\n"
	        "  --max-sets N              value sets one client key may keep, 1 to 1024 (default 16)\n"
	        "  --set-budget BYTES        bytes the value sets of one client key may hold (an\n"
	        "                            unknown-value set holds the scanned bytes; default 1G)\n"
	        "  --no-keyscan              do not tell clients this agent's public key before a\n"
	        "                            handshake ('memscan keyscan'); config: keyscan = no\n"
	        "  --help, --version\n"
	        "authorized_keys: one client a line, 'OPTIONS memscan-x25519 BASE64 [comment]' with\n"
	        "  perms=list,read,scan  list: processes and regions; read: read, snapshot, diff,\n"
	        "                        heatmaps;\n"
	        "                        scan: pattern and value scans (value sets outlive the\n"
	        "                        connection and belong to the key). scan discloses memory contents "
	        "just as\n"
	        "                        read does (a scan per byte value rebuilds the bytes): grant it\n"
	        "                        only to keys you would let read\n"
	        "  uids=MIN-MAX          only processes whose every uid lies in the range\n"
	        "  exe=PATTERN[,...]     only processes whose executable matches (fnmatch, e.g.\n"
	        "                        exe=/usr/games/*); uids= and exe= are checked again at every\n"
	        "                        operation. The agent itself and thread IDs are never served.\n"
	        "Run it as an unprivileged user holding only CAP_SYS_PTRACE (docs/security.md).\n"
	        "SIGHUP reloads the authorized keys; SIGTERM or SIGINT stops the agent.\n");
}

int agent_parse_size(const char *s, uint64_t *ret)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*ret = (uint64_t)v << shift;
	return 0;
}

/* The decimal number S starts with into *RET, *RET_END after it; -1 unless it starts with a digit
 * and fits. */
static int agent_parse_leading(const char *s, unsigned long long *ret, char **ret_end)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*ret = strtoull(s, ret_end, 10);
	return errno ? -1 : 0;
}

/* A duration: N with a unit ms, s, m or h (seconds without one), into milliseconds (1 ms to 30 days). */
static int agent_parse_duration(const char *s, uint64_t *ret_ms)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	unsigned long long v;
	char *end;

	if (agent_parse_leading(s, &v, &end) != 0 || v > 30ull * 24 * 3600 * 1000)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v == 0 || v * units[i].ms > 30ull * 24 * 3600 * 1000)
			return -1;
		*ret_ms = v * units[i].ms;
		return 0;
	}
	return -1;
}

static int agent_parse_uint(const char *s, unsigned min, unsigned max, unsigned *ret)
{
	unsigned long long v;
	char *end;

	if (agent_parse_leading(s, &v, &end) != 0 || *end || v < min || v > max)
		return -1;
	*ret = (unsigned)v;
	return 0;
}

static int agent_parse_bool(const char *s, int *ret)
{
	if (!strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1"))
		*ret = 1;
	else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0"))
		*ret = 0;
	else
		return -1;
	return 0;
}

static int agent_set_string(char **dst, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

static int agent_add_listen(agent_config *cfg, const char *url)
{
	if (strncmp(url, "tcp://", 6) != 0 && strncmp(url, "ipc://", 6) != 0)
		return -1;
	if (wire_grow(&cfg->listen, &cfg->listen_cap, cfg->listen_count + 1, sizeof(*cfg->listen),
	              AGENT_LISTEN_MAX) != 0)
		return -1;
	cfg->listen[cfg->listen_count] = strdup(url);
	if (!cfg->listen[cfg->listen_count])
		return -1;
	cfg->listen_count++;
	return 0;
}

/* Applies one setting; -1 if VALUE is not acceptable for it. */
static int agent_apply(agent_config *cfg, int opt, const char *value)
{
	switch (opt) {
	case OPT_LISTEN:
		return agent_add_listen(cfg, value);
	case OPT_KEY:
		return value[0] ? agent_set_string(&cfg->key_path, value) : -1;
	case OPT_AUTH:
		return value[0] ? agent_set_string(&cfg->auth_path, value) : -1;
	case OPT_WORKERS:
		return agent_parse_uint(value, 1, 1024, &cfg->workers);
	case OPT_MAX_CONN:
		return agent_parse_uint(value, 1, 1000000, &cfg->max_connections);
	case OPT_MAX_PEER:
		return agent_parse_uint(value, 1, 1000000, &cfg->max_per_peer);
	case OPT_SESSION_BUDGET:
		return agent_parse_size(value, &cfg->session_budget);
	case OPT_GLOBAL_BUDGET:
		return agent_parse_size(value, &cfg->global_budget);
	case OPT_HS_TIMEOUT:
		return agent_parse_uint(value, 1, 3600000, &cfg->handshake_timeout_ms);
	case OPT_MAX_SNAPSHOTS:
		return agent_parse_uint(value, 1, AGENT_MAX_SNAPSHOTS, &cfg->max_snapshots);
	case OPT_READ_ABSENT:
		return agent_parse_bool(value, &cfg->read_absent);
	case OPT_SET_IDLE:
		return agent_parse_duration(value, &cfg->set_idle_ms);
	case OPT_MAX_SETS:
		return agent_parse_uint(value, 1, AGENT_MAX_SETS, &cfg->max_sets);
	case OPT_SET_BUDGET:
		return agent_parse_size(value, &cfg->set_budget);
	case OPT_KEYSCAN:
		return agent_parse_bool(value, &cfg->keyscan);
	}
	return -1;
}

/* Says that VALUE is refused for NAME (WHERE: "FILE:LINE: " or ""), with what to write for a listen
 * address without its transport. */
static void agent_bad_value(const char *where, const char *value, const char *name, int opt)
{
	if (opt == OPT_LISTEN && !strstr(value, "://"))
		fprintf(stderr,
		        "memscan-agent: %sbad value '%s' for %s: a listen address names its transport: "
		        "tcp://%s (or ipc:///PATH for a local socket)\n",
		        where, value, name, value);
	else
		fprintf(stderr, "memscan-agent: %sbad value '%s' for %s (see --help)\n", where, value, name);
}

static const struct agent_opt_name *agent_find_opt(const char *name, int by_flag)
{
	for (size_t i = 0; i < sizeof(agent_opts) / sizeof(agent_opts[0]); i++)
		if (!strcmp(name, by_flag ? agent_opts[i].flag : agent_opts[i].key))
			return &agent_opts[i];
	return NULL;
}

static char *agent_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Parses one config line; -1 with a message on stderr naming PATH:LINENO. */
static int agent_config_line(agent_config *cfg, const char *path, unsigned lineno, char *line)
{
	const struct agent_opt_name *o;
	char *key, *value, *eq;

	key = agent_trim(line);
	if (!key[0] || key[0] == '#')
		return 0;
	eq = strchr(key, '=');
	if (!eq) {
		fprintf(stderr, "memscan-agent: %s:%u: expected 'Key = Value'\n", path, lineno);
		return -1;
	}
	*eq = '\0';
	key = agent_trim(key);
	value = agent_trim(eq + 1);
	o = agent_find_opt(key, 0);
	if (!o) {
		fprintf(stderr, "memscan-agent: %s:%u: unknown key '%s'\n", path, lineno, key);
		return -1;
	}
	if (agent_apply(cfg, o->opt, value) != 0) {
		char where[4200];

		snprintf(where, sizeof(where), "%s:%u: ", path, lineno);
		agent_bad_value(where, value, key, o->opt);
		return -1;
	}
	return 0;
}

static int agent_config_file(agent_config *cfg, const char *path)
{
	char line[4096];
	unsigned lineno = 0;
	int r = 0;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		fprintf(stderr, "memscan-agent: cannot open config %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(stderr, "memscan-agent: %s:%u: line too long\n", path, lineno);
			r = -1;
			break;
		}
		r = agent_config_line(cfg, path, lineno, line);
	}
	fclose(f);
	return r;
}

static int agent_config_defaults(agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->workers = 8;
	cfg->max_connections = 256;
	cfg->max_per_peer = 32;
	cfg->session_budget = 1ull << 30;
	cfg->global_budget = 4ull << 30;
	cfg->handshake_timeout_ms = 5000;
	cfg->max_snapshots = AGENT_DEFAULT_SNAPSHOTS;
	cfg->set_idle_ms = AGENT_DEFAULT_SET_IDLE_MS;
	cfg->max_sets = AGENT_DEFAULT_SETS;
	cfg->set_budget = AGENT_DEFAULT_SET_BUDGET;
	cfg->keyscan = 1;
	if (agent_set_string(&cfg->key_path, AGENT_DEFAULT_KEY) ||
	    agent_set_string(&cfg->auth_path, AGENT_DEFAULT_AUTH))
		return -1;
	return 0;
}

/* Finds --config (it applies first, whatever its position); -1 if it lacks its value. */
static int agent_find_config(int argc, char **argv, const char **ret)
{
	*ret = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") != 0)
			continue;
		if (i + 1 >= argc)
			return -1;
		*ret = argv[++i];
	}
	return 0;
}

/* Flags after the config file. Listen flags replace the file's listen lines. */
static int agent_config_flags(agent_config *cfg, int argc, char **argv)
{
	int listen_seen = 0;

	for (int i = 1; i < argc; i++) {
		const struct agent_opt_name *o;
		const char *value;

		if (!strcmp(argv[i], "--config")) {
			i++;
			continue;
		}
		o = agent_find_opt(argv[i], 1);
		if (!o) {
			fprintf(stderr, "memscan-agent: unknown option '%s' (see --help)\n", argv[i]);
			return -1;
		}
		if (!o->switch_value && i + 1 >= argc) {
			fprintf(stderr, "memscan-agent: %s needs a value (see --help)\n", argv[i]);
			return -1;
		}
		value = o->switch_value ? o->switch_value : argv[++i];
		if (o->opt == OPT_LISTEN && !listen_seen) {
			for (size_t j = 0; j < cfg->listen_count; j++)
				free(cfg->listen[j]);
			cfg->listen_count = 0;
			listen_seen = 1;
		}
		if (agent_apply(cfg, o->opt, value) != 0) {
			agent_bad_value("", value, o->flag, o->opt);
			return -1;
		}
	}
	return 0;
}

/* 0: run; 1: --help/--version printed (exit 0); -1: usage error (printed; exit 2). */
int agent_config_parse(int argc, char **argv, agent_config *cfg)
{
	const char *config = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			agent_usage(stdout);
			return 1;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("memscan-agent %s\n", MEMSCAN_AGENT_VERSION);
			return 1;
		}
	}
	if (agent_config_defaults(cfg) != 0)
		return -1;
	if (agent_find_config(argc, argv, &config) != 0) {
		fprintf(stderr, "memscan-agent: --config needs a value (see --help)\n");
		return -1;
	}
	if (config && agent_config_file(cfg, config) != 0)
		return -1;
	if (agent_config_flags(cfg, argc, argv) != 0)
		return -1;
	if (cfg->listen_count == 0) {
		fprintf(stderr,
		        "memscan-agent: no listen address: add --listen tcp://HOST:PORT (see --help)\n");
		return -1;
	}
	return 0;
}

void agent_config_free(agent_config *cfg)
{
	for (size_t i = 0; i < cfg->listen_count; i++)
		free(cfg->listen[i]);
	free(cfg->listen);
	free(cfg->key_path);
	free(cfg->auth_path);
	memset(cfg, 0, sizeof(*cfg));
}
