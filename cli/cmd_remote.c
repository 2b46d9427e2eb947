/* SPDX-License-Identifier: MIT */
/* memscan CLI: `remote` (the local commands against an agent) and keys (keygen, fingerprint, trust). */
#include <stdio.h>
#include <string.h>

#include <memscan/client.h>

#include "args.h"
#include "cmd.h"
#include "fleet.h"
#include "output.h"
#include "target.h"

static const struct {
	const char *name;
	cli_cmd_fn fn;
} remote_cmds[] = {
	{ "ps", cmd_ps },
	{ "regions", cmd_regions },
	{ "read", cmd_read },
	{ "scan", cmd_scan },
	{ "snapshot", cmd_snapshot },
	{ "diff", cmd_diff },
	{ "heatmap", cmd_heatmap }, /* counted on the agent: only counts travel */
	{ "narrow", cmd_narrow },
	{ "matches", cmd_matches },
	{ "hunt", cmd_hunt },
	{ "pointers", cmd_pointers },
	{ "resolve", cmd_resolve },
};

#define NREMOTE (sizeof(remote_cmds) / sizeof(remote_cmds[0]))

const char *cli_remote_command_names(void)
{
	static char names[128];

	if (!names[0])
		for (size_t i = 0; i < NREMOTE; i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? " " : "",
			         remote_cmds[i].name);
	return names;
}

int cmd_remote(int argc, char **argv)
{
	int code;

	if (argc < 2) {
		cli_err("remote needs a command: %s", cli_remote_command_names());
		cli_print_help(stderr, "remote");
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cli_print_help(stdout, "remote");
	if (cli_fleet(argc, argv, cmd_remote, &code))
		return code;
	for (size_t i = 0; i < NREMOTE; i++) {
		if (!strcmp(argv[1], remote_cmds[i].name)) {
			cli_remote_mode = 1;
			return remote_cmds[i].fn(argc - 1, argv + 1);
		}
	}
	cli_err("unknown remote command '%s': expected one of %s", argv[1], cli_remote_command_names());
	return CLI_USAGE;
}

int cmd_keygen(int argc, char **argv)
{
	char path[4096], fp[MEMSCAN_FINGERPRINT_LEN], err[512] = "";
	const char *file = NULL, *comment = NULL;
	int ret;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return cli_print_help(stdout, "keygen");
		if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "-C")) && i + 1 < argc) {
			*(argv[i][1] == 'f' ? &file : &comment) = argv[i + 1];
			i++;
			continue;
		}
		cli_err("keygen: unexpected argument '%s' (usage: memscan keygen [-f FILE] [-C COMMENT])",
		        argv[i]);
		return CLI_USAGE;
	}
	if (!file) {
		if (memscan_key_default_identity(path, sizeof(path)) != MEMSCAN_OK) {
			cli_err("no default key path: set HOME, or name a file with -f FILE");
			return CLI_USAGE;
		}
		file = path;
	}
	ret = memscan_key_generate(file, comment, fp, err, sizeof(err));
	if (ret != MEMSCAN_OK) {
		cli_err("keygen: %s", err[0] ? err : memscan_strerror(ret));
		return CLI_FAIL;
	}
	printf("wrote %s (private, mode 0600) and %s.pub\nfingerprint %s\n", file, file, fp);
	return CLI_OK;
}

int cmd_fingerprint(int argc, char **argv)
{
	char fp[MEMSCAN_FINGERPRINT_LEN], err[512] = "";
	int ret;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return cli_print_help(stdout, "fingerprint");
	if (argc != 2) {
		cli_err("usage: memscan fingerprint FILE (a .pub file or a private key file)");
		return CLI_USAGE;
	}
	ret = memscan_key_fingerprint(argv[1], fp, err, sizeof(err));
	if (ret != MEMSCAN_OK) {
		cli_err("fingerprint: %s", err[0] ? err : memscan_strerror(ret));
		return CLI_FAIL;
	}
	printf("%s %s\n", fp, argv[1]);
	return CLI_OK;
}

/* The key line KEY names: the line itself, the first line of a .pub file, or of stdin for "-" (e.g.
 * piped from `memscan keyscan`). */
static const char *key_line(const char *key, char *buf, size_t size)
{
	FILE *f;

	if (!strncmp(key, "memscan-x25519 ", 15))
		return key;
	f = strcmp(key, "-") ? fopen(key, "r") : stdin;
	if (!f)
		return key; /* let the parser say what is wrong with it */
	if (!fgets(buf, (int)size, f))
		buf[0] = '\0';
	if (f != stdin)
		fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

int cmd_trust(int argc, char **argv)
{
	char fp[MEMSCAN_FINGERPRINT_LEN], err[1024] = "", line[4096];
	const char *known = NULL, *pos[2];
	int ret, replace = 0, npos = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return cli_print_help(stdout, "trust");
		if (!strcmp(argv[i], "--replace"))
			replace = 1;
		else if (!strcmp(argv[i], "--known-agents") && i + 1 < argc)
			known = argv[++i];
		else if (npos < 2 && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
			pos[npos++] = argv[i];
		else
			npos = 3;
	}
	if (npos != 2) {
		cli_err("usage: memscan trust [--replace] [--known-agents FILE] HOST:PORT KEY (KEY: "
		        "\"memscan-x25519 BASE64 ...\", the agent's .pub file, or - for stdin)");
		return CLI_USAGE;
	}
	ret = (replace ? memscan_key_trust_replace : memscan_key_trust)(
	    known, pos[0], key_line(pos[1], line, sizeof(line)), fp, err, sizeof(err));
	if (ret != MEMSCAN_OK) {
		cli_err("trust: %s", err[0] ? err : memscan_strerror(ret));
		return ret == MEMSCAN_ERR_INVALID_ARG ? CLI_USAGE : CLI_FAIL;
	}
	printf("pinned %s %s\n", pos[0], fp);
	return CLI_OK;
}

int cmd_keyscan(int argc, char **argv)
{
	char url[300], name[280], line[MEMSCAN_KEY_LINE_LEN], fp[MEMSCAN_FINGERPRINT_LEN];
	memscan_client *c = NULL;
	int err, ret;

	if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return cli_print_help(stdout, "keyscan");
	if (argc != 2) {
		cli_err("usage: memscan keyscan HOST[:PORT] | ipc:///PATH");
		return CLI_USAGE;
	}
	ret = cli_agent_address(argv[1], url, sizeof(url), name, sizeof(name));
	if (ret != CLI_OK)
		return ret;
	err = memscan_client_new(&c);
	if (err == MEMSCAN_OK)
		err = memscan_client_keyscan(c, url, line, sizeof(line), fp);
	if (err != MEMSCAN_OK) {
		cli_err("keyscan %s: %s", name, c ? memscan_client_last_error(c) : memscan_strerror(err));
		memscan_client_free(c);
		return CLI_FAIL;
	}
	memscan_client_free(c);
	printf("%s %s\n", line, name);
	/* the answer came over an unauthenticated exchange: a person must compare it */
	fprintf(stderr,
	        "%s %s (not authenticated: compare it with the fingerprint memscan-agent printed at start "
	        "on that host before 'memscan trust %s -')\n",
	        name, fp, name);
	return CLI_OK;
}
