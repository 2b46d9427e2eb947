/* SPDX-License-Identifier: MIT */
/* memscan CLI entry point: the subcommand table, help, version and the stdout error check. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cancel.h"
#include "cmd.h"
#include "cmd_values.h"
#include "output.h"

#define FILTER_HELP                                                                                          \
	"Filters (select regions):\n"                                                                        \
	"  --range START-END   only addresses in [START, END) (hex, 0x optional); regions are clipped\n"     \
	"  --perms PERMS       regions having all these permissions, e.g. rw, r-x, s\n"                      \
	"  --kind KIND         heap, stack, anon, file or special; repeat or comma-separate\n"               \
	"  --path SUBSTR       regions whose path contains SUBSTR\n"

/* Long local operations: scan, snapshot, diff PID, heatmap. */
#define QUIET_HELP                                                                                           \
	"  -q, --quiet         no progress line (shown on stderr when it is a terminal: done of total,\n"    \
	"                      rate, time left)\n"

/* Local scan, snapshot and diff PID; remotely the agent decides (memscan-agent --read-absent). */
#define READ_ABSENT_HELP                                                                                     \
	"  --read-absent       read pages the kernel reports as never written instead of treating them\n"    \
	"                      as zeros (for memory supplied on demand, e.g. userfaultfd)\n"

/* What `memscan remote` adds to every command; also appended to `memscan remote CMD --help`. */
#define REMOTE_OPTIONS_HELP                                                                                  \
	"  TARGET            HOST:PID, HOST:PORT:PID, [IPv6]:PORT:PID or ipc:///PATH:PID (default\n"         \
	"                    port 7777); remote ps takes HOST[:PORT] or ipc:///PATH\n"                       \
	"  --identity FILE   this client's private key (default ~/.config/memscan/id_x25519, or\n"           \
	"                    $XDG_CONFIG_HOME/memscan/id_x25519)\n"                                          \
	"  --compress        read, snapshot, diff: ask the agent to compress the bytes (zstd) for\n"         \
	"                    slow links. Off by default: compressed sizes tell a watcher of the link\n"      \
	"                    something about the bytes (see docs/security.md)\n"                             \
	"  --read-absent     refused: whether pages never written are read is the agent's choice\n"          \
	"                    (memscan-agent --read-absent)\n"

static int cmd_help(int argc, char **argv);

static const struct cli_cmd commands[] = {
	{ "ps", cmd_ps, "list processes",
	  "usage: memscan ps [NAME] [--json] [-q]\n"
	  "\n"
	  "Lists the processes of the host: PID, PPID, UID, RSS, name and command line; with NAME, only\n"
	  "those whose name contains it.\n"
	  "  --json   one JSON object per process: pid, ppid, uid, rss (bytes), name, cmdline\n"
	  "  -q, --quiet  no progress line (a fleet run's: remote ps @HOSTS)\n" },
	{ "regions", cmd_regions, "list the memory regions of a process",
	  "usage: memscan regions PID [FILTERS] [--json] [-q]\n"
	  "\n"
	  "Lists the regions of /proc/PID/maps with their size and kind, under a header. Without filters\n"
	  "every region is listed.\n"
	  "  --json   one JSON object per region: start, end, perms, offset, path, kind, size, inode,\n"
	  "           dev, deleted\n"
	  "  -q, --quiet  no progress line (a fleet run's: remote regions @HOSTS:PID)\n" FILTER_HELP },
	{ "read", cmd_read, "read memory of a process",
	  "usage: memscan read PID ADDR LEN [--raw | --json]\n"
	  "\n"
	  "Reads LEN bytes at ADDR (hex) and prints an xxd-style hexdump; unreadable bytes show as ??.\n"
	  "  --raw    write the bytes themselves to stdout; fails (exit 1, no output) if any byte is\n"
	  "           unreadable\n"
	  "  --json   {\"address\", \"length\", \"data\" (hex), \"holes\": [{\"start\", \"end\"}]}\n" },
	{ "scan", cmd_scan, "search the memory of a process for a byte pattern or a value",
	  "usage: memscan scan PID --pattern \"4D 5A ?? 00\" [--no-memmap] [--align N] [--max N]\n"
	  "                    [--read-absent] [--quiet] [FILTERS] [--json]\n"
	  "       memscan scan PID --type TYPE --value V [--align N] [--max N] [--epsilon E] [--utf16]\n"
	  "                    [--quiet] [FILTERS] [--json] [-o SET]\n"
	  "       memscan scan PID --type TYPE --unknown -o SET [--align N] [--quiet] [FILTERS]\n"
	  "\n"
	  "With --pattern: prints the address of every match, one per line, with the region's path or\n"
	  "[kind].\n"
	  "  -p, --pattern PAT   hex bytes; ?? matches any byte, 4? / ?D one nibble; spaces optional\n"
	  "  --no-memmap         read in small chunks instead of copying whole regions\n"
	  "  --align N           only matches at addresses that are multiples of N\n"
	  "  --max N             stop after N matches\n"
	  "  --json              one object per match: address, region_start, path\n" QUIET_HELP
	  "With --type: finds the values V of TYPE in writable regions ('--perms r': every readable one)\n"
	  "and prints 'ADDRESS  TYPE  VALUE  [MODULE+OFFSET]' per candidate, or saves them to SET for\n"
	  "'memscan narrow' and 'memscan matches'.\n"
	  "  -t, --type TYPE     i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 (little-endian) or str\n"
	  "  -v, --value V       decimal or 0x hex integer, decimal float, range A..B, or the text (str)\n"
	  "  --unknown           remember every value (unknown initial value): needs -o SET\n"
	  "  --align N           candidates at multiples of N (default: the type's size; str: 1)\n"
	  "  --epsilon E         floats: match within E of V (default: V's written precision)\n"
	  "  --utf16             str: look for the UTF-16LE form of V\n"
	  "  --max N             print the first N, however many match; with -o: fail if more than N\n"
	  "                      match (default limit 16777216)\n"
	  "  -o, --output SET    save the candidates to the set file SET (replaced atomically) and print\n"
	  "                      'N candidates of TYPE in PID P saved to SET'\n"
	  "  --json              one object per candidate: address, type, value, module, "
	  "offset\n" READ_ABSENT_HELP FILTER_HELP },
	{ "narrow", cmd_narrow, "keep the candidates of a set whose value now fits a predicate",
	  "usage: memscan narrow SET PREDICATE [-o SET2] [--json] [--max N] [--quiet]\n"
	  "\n"
	  "Reads the candidates of SET in its process now, keeps those PREDICATE accepts, rewrites SET\n"
	  "(atomically; or writes SET2), prints the first N survivors with their previous value\n"
	  "('ADDRESS  TYPE  VALUE  (was OLD)  [MODULE+OFFSET]') and 'K of M candidates left ...'.\n"
	  "PREDICATE, exactly one, compares each value now with the one SET recorded, or with a number:\n"
	  "  --changed --unchanged --increased --decreased\n"
	  "  --increased-by D --decreased-by D   by exactly D (a number or range A..B, >= 0)\n"
	  "  --eq V --ne V --gt V --lt V --between A B\n"
	  "str sets take --changed, --unchanged, --eq and --ne.\n"
	  "  -o, --output SET2   write the survivors to SET2 and leave SET as it was\n"
	  "  --max N             print at most N survivors (default 20, then '... and K more'); SET2\n"
	  "                      gets them all\n"
	  "  --json              one object per survivor: address, type, value, old, module, offset;\n"
	  "                      the summary line goes to stderr\n" QUIET_HELP },
	{ "matches", cmd_matches, "show the candidates of a set and their values now",
	  "usage: memscan matches SET [--json] [--max N] [--quiet]\n"
	  "\n"
	  "Reads the candidates of SET in its process now and prints them with the value SET recorded\n"
	  "('ADDRESS  TYPE  VALUE  (was OLD)  [MODULE+OFFSET]'); SET is not changed.\n"
	  "  --max N   print at most N (default 20, then '... and K more')\n"
	  "  --json    one object per candidate: address, type, value, old, module, offset; the\n"
	  "            summary line goes to stderr\n" QUIET_HELP },
	{ "release", cmd_release, "drop a set an agent keeps, and its file",
	  "usage: memscan release SET [--identity FILE]\n"
	  "\n"
	  "SET is the file 'memscan remote scan ... -o SET' wrote: the agent it names drops the set (as\n"
	  "it does by itself after its idle time, 30 minutes by default), then SET is deleted. A local\n"
	  "set file is only deleted. Prints 'released SET'.\n"
	  "  --identity FILE   the key that made the set (default ~/.config/memscan/id_x25519)\n" },
	{ "hunt", cmd_hunt, "find a value interactively: scan, then narrow step by step",
	  "usage: memscan hunt PID [--type TYPE] [--align N] [--undo-memory SIZE] [--quiet] [FILTERS]\n"
	  "\n"
	  "A prompt holding one candidate set in memory (type i32 unless --type). Reads commands from\n"
	  "stdin: with line editing and history on a terminal, plain lines otherwise (no prompt). Prints\n"
	  "the number of candidates after each step. Ctrl-C cancels the running step, not the session.\n"
	  "  --undo-memory SIZE  the most the undo history's sets may take together (default 1G):\n"
	  "                      the oldest steps are dropped past it, never the current one\n" QUIET_HELP
	  "Commands:\n" HUNT_COMMANDS_HELP FILTER_HELP },
	{ "snapshot", cmd_snapshot, "save the memory of a process to a file",
	  "usage: memscan snapshot PID -o FILE [--read-absent] [--quiet] [FILTERS]\n"
	  "\n"
	  "Reads the selected regions (readable ones by default) and writes them to FILE.\n"
	  "Prints 'wrote FILE: N regions, SIZE (B bytes), SIZE unreadable' to stdout.\n"
	  "  -o, --output FILE   the snapshot file to write (replaced atomically)\n" QUIET_HELP
	      READ_ABSENT_HELP FILTER_HELP },
	{ "diff", cmd_diff, "show what changed in memory",
	  "usage: memscan diff PID [--interval DURATION] [--watch [--count N] [--stats [--cell SIZE]]]\n"
	  "                        [--bytes] [--read-absent] [--quiet] [FILTERS] [--json]\n"
	  "       memscan diff FILE_A FILE_B [--bytes] [--json]\n"
	  "\n"
	  "With a PID: reads the regions, waits DURATION, reads them again and prints what changed.\n"
	  "With two snapshot files: prints what changed from FILE_A to FILE_B.\n"
	  "  -i, --interval DUR  time between reads: 500ms, 2s, 1m, 1h or a number of seconds\n"
	  "                      (default 1s)\n"
	  "  -w, --watch         repeat until interrupted (SIGINT/SIGTERM), one batch per interval\n"
	  "  -n, --count N       with --watch: stop after N batches\n"
	  "  --stats             with --watch (local): at the end (--count reached, SIGINT or SIGTERM)\n"
	  "                      print a summary: changes per region, the hottest cells, bytes changed\n"
	  "                      per second (--json: one {\"stats\": ...} object)\n"
	  "  --cell SIZE         with --stats: bytes per cell, a power of two (default 4K)\n"
	  "  --bytes             one line per changed byte instead of runs of bytes\n"
	  "  --json              one object per run {address, old, new}, byte, or\n"
	  "                      {appeared|vanished: {start, end}}; with --watch each has a "
	  "time\n" QUIET_HELP READ_ABSENT_HELP FILTER_HELP },
	{ "heatmap", cmd_heatmap, "show where the memory of a process changes, as a picture",
	  "usage: memscan heatmap PID [--duration DUR] [--interval DUR] [--cell SIZE] [--read-absent]\n"
	  "                       [--quiet] [FILTERS] [-o FILE.svg] [--json]\n"
	  "\n"
	  "Reads the selected regions every interval for the duration and counts, per cell of memory, in\n"
	  "how many samples it changed. Ctrl-C ends the sampling early and reports what was counted.\n"
	  "Prints the hottest cells and regions, or with -o draws cells (rows, grouped by region) by time.\n"
	  "  -d, --duration DUR  how long to sample (default 10s)\n"
	  "  -i, --interval DUR  time between samples (default 100ms)\n"
	  "  --cell SIZE         bytes per cell, a power of two: 64, 4K (default), 1M\n"
	  "  -o, --output FILE   write the heatmap as an SVG picture to FILE\n"
	  "  --json              one object per cell that changed: {address, size, "
	  "changes}\n" QUIET_HELP READ_ABSENT_HELP FILTER_HELP },
	{ "remote", cmd_remote, "run a command through a memscan-agent (ps, scan, diff, narrow, hunt, ...)",
	  "usage: memscan remote ps HOST[:PORT] [NAME] [--json] [--identity FILE]\n"
	  "       memscan remote regions|read|scan|snapshot|diff|heatmap|pointers|resolve TARGET ...\n"
	  "                      [--identity FILE]\n"
	  "       memscan remote narrow|matches SET ... [--identity FILE]\n"
	  "       memscan remote hunt TARGET ... [--identity FILE]\n"
	  "\n"
	  "Runs a command on the host of a memscan-agent, with exactly the options and the output of the\n"
	  "local command (see 'memscan help COMMAND'). Remote diff keeps its baseline on the agent and\n"
	  "receives only what changed; --watch works remotely too. Remote heatmap counts on the agent\n"
	  "and receives only the counts. A value scan (scan --type) keeps its\n"
	  "candidates on the agent: -o SET writes a reference to them, which narrow, matches and release\n"
	  "follow to the agent (with or without 'remote'); the agent drops a set 30 minutes "
	  "unused.\n"
	  "Fleets: ps, regions, scan and diff run on many agents at once when TARGET is @FILE (or\n"
	  "@FILE:PID; one HOST[:PORT] a line) or a name given right after the command that resolves to\n"
	  "several addresses (a headless Service); each line starts with its host (--json: \"host\"),\n"
	  "and the exit status is 1 if any host failed. On a terminal (not with --quiet) one line on\n"
	  "stderr counts the hosts done.\n" REMOTE_OPTIONS_HELP
	  "The agent's key must be pinned first with 'memscan trust HOST:PORT KEY'; the agent must list\n"
	  "this client's public key in its authorized_keys.\n" },
	{ "keygen", cmd_keygen, "make a key pair for talking to agents",
	  "usage: memscan keygen [-f FILE] [-C COMMENT]\n"
	  "\n"
	  "Writes a new X25519 key pair: FILE (private, mode 0600; never overwritten) and FILE.pub\n"
	  "(one line 'memscan-x25519 BASE64 COMMENT', to put in an agent's authorized_keys).\n"
	  "FILE defaults to ~/.config/memscan/id_x25519 ($XDG_CONFIG_HOME/memscan/id_x25519).\n" },
	{ "fingerprint", cmd_fingerprint, "show the fingerprint of a key file",
	  "usage: memscan fingerprint FILE\n"
	  "\n"
	  "Prints 'SHA256:... FILE' for a .pub file or a private key file. Compare it with what the\n"
	  "agent prints at start before trusting a key.\n" },
	{ "trust", cmd_trust, "pin an agent's public key",
	  "usage: memscan trust [--replace] [--known-agents FILE] HOST:PORT KEY\n"
	  "\n"
	  "Records the agent's public key for HOST:PORT (or ipc:///PATH) in known_agents (default\n"
	  "~/.config/memscan/known_agents) and prints its fingerprint. KEY is the agent's .pub line\n"
	  "\"memscan-x25519 BASE64 [comment]\", the path of its .pub file (/etc/memscan/agent.key.pub on\n"
	  "the agent's host), or - to read the line from stdin (memscan keyscan HOST:PORT | memscan trust\n"
	  "HOST:PORT -). Pinning the same key again is fine; a different key already pinned is refused,\n"
	  "naming both fingerprints.\n"
	  "  --replace             replace a different pinned key (after checking the new fingerprint)\n"
	  "  --known-agents FILE   the file to write instead of the default\n"
	  "A pin for an address (127.0.0.1:7777) is also found when you connect by a name that resolves\n"
	  "to it (localhost:7777); a pin for a name is found only when you connect by that name.\n"
	  "HOST may be a pattern with * and ? ('*.memscan.svc:7777') for a fleet sharing one key: it\n"
	  "covers the names it matches on that port that have no exact pin.\n" },
	{ "keyscan", cmd_keyscan, "ask an agent for its public key (unauthenticated)",
	  "usage: memscan keyscan HOST[:PORT] | ipc:///PATH\n"
	  "\n"
	  "Asks the agent for its public key before any handshake and prints its line\n"
	  "'memscan-x25519 BASE64 HOST:PORT' on stdout and its fingerprint on stderr. Nothing\n"
	  "authenticates this answer: compare the fingerprint with the one memscan-agent printed at start\n"
	  "on its host (or 'memscan fingerprint /etc/memscan/agent.key.pub' there), then pin it:\n"
	  "  memscan keyscan HOST:PORT | memscan trust HOST:PORT -\n"
	  "Agents started with --no-keyscan close the connection instead.\n" },
	{ "completion", cmd_completion, "print shell completion for bash, zsh or fish",
	  "usage: memscan completion bash|zsh|fish\n"
	  "\n"
	  "Prints a completion script for the shell, made from this program's own commands and their\n"
	  "options, so it offers exactly what 'memscan COMMAND --help' documents. Install it with e.g.\n"
	  "  memscan completion bash > /usr/share/bash-completion/completions/memscan\n"
	  "  memscan completion zsh > \"${fpath[1]}/_memscan\"\n"
	  "  memscan completion fish > ~/.config/fish/completions/memscan.fish\n" },
	{ "pointers", cmd_pointers, "find chains of pointers from static data to an address",
	  "usage: memscan pointers SOURCE --to ADDR [--depth N] [--max-offset OFF] [--negative] [--bases "
	  "all]\n"
	  "                        [--max N] [-o PATHS] [--json] [--quiet]\n"
	  "       memscan pointers SOURCE --rescan PATHS --to ADDR [-o PATHS2] [--json] [--quiet]\n"
	  "\n"
	  "Finds the chains of pointers that lead from a module's static data to ADDR, e.g.\n"
	  "'libgame.so+0x1f40 -> 0x18 -> 0x8': the pointer at libgame.so's load address + 0x1f40, plus\n"
	  "0x18, dereferenced, plus 0x8 is ADDR. Such a chain finds the value again after a restart.\n"
	  "SOURCE is a PID or a snapshot file (memscan snapshot). Chains are printed shortest first.\n"
	  "  --to ADDR           the address to reach (hex), e.g. found by 'memscan scan'\n"
	  "  --depth N           most pointers in a chain, 1 to 8 (default 4)\n"
	  "  --max-offset OFF    largest offset added to a pointer (default 0x1000)\n"
	  "  --negative          offsets may also be negative\n"
	  "  --bases all         chains may start in any named region, not only modules' data and bss\n"
	  "  --max N             stop after N chains (default 10000)\n"
	  "  -o, --output PATHS  also save the chains to the file PATHS (docs/pointer-format.md)\n"
	  "  --rescan PATHS      keep the chains of PATHS that reach ADDR in SOURCE now; PATHS is\n"
	  "                      rewritten with them unless -o names another file\n"
	  "  --json              one object per chain: base, offset, offsets, address\n"
	  "  -q, --quiet         no progress lines (shown on stderr when it is a terminal: loading\n"
	  "                      the file or reading the process, the index, the search level by\n"
	  "                      level, a rescan)\n"
	  "Through an agent ('memscan remote pointers TARGET --to ADDR ...') the search and the rescan\n"
	  "run on the agent, which sends only chains back.\n" },
	{ "resolve", cmd_resolve, "follow a chain of pointers to the address it reaches",
	  "usage: memscan resolve SOURCE CHAIN [--type TYPE] [-q]\n"
	  "\n"
	  "Follows CHAIN ('libgame.so+0x1f40 -> 0x18 -> 0x8') in SOURCE (a PID or a snapshot file) and\n"
	  "prints the address it reaches. A chain that breaks says at which step and why (a pointer\n"
	  "that is null or cannot be read); exit status 1.\n"
	  "  --type TYPE   also print the value there: i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 str\n"
	  "  -q, --quiet   no progress line while a snapshot file loads (shown on stderr when it is\n"
	  "                a terminal)\n" },
	{ "help", cmd_help, "show help for a command",
	  "usage: memscan help [COMMAND]\n"
	  "\n"
	  "Shows the list of commands, or the help of COMMAND.\n" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_cmd *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

const struct cli_cmd *cli_commands(size_t *ret_count)
{
	*ret_count = NCOMMANDS;
	return commands;
}

static void print_overview(FILE *out)
{
	size_t i;

	fputs("usage: memscan COMMAND [ARGS...]\n"
	      "       memscan help [COMMAND] | memscan COMMAND --help | memscan --version\n"
	      "\n"
	      "Read-only inspection of another process's memory.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fputs("\nExit status: 0 success, 1 runtime failure, 2 usage error.\n", out);
}

/* The length of the process word ("PID" or "SOURCE") REST starts with after its space, or 0. */
static size_t process_word(const char *rest, const char *end)
{
	static const char *const words[] = { " PID", " SOURCE" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		size_t n = strlen(words[i]);
		if ((size_t)(end - rest) > n && !strncmp(rest, words[i], n) &&
		    (rest[n] == ' ' || rest[n] == '\n'))
			return n;
	}
	return 0;
}

/* One line of a local usage synopsis, as `memscan remote CMD` takes it: "memscan CMD PID" (or
 * SOURCE) becomes "memscan remote CMD TARGET" (ps: HOST[:PORT]). A form without a process is kept
 * for commands that have no other (narrow SET), dropped for those that do (diff FILE FILE compares
 * files, not a remote target): HAS_PROCESS_FORM says which. */
static int print_remote_synopsis(FILE *out, const char *name, const char *line, size_t len,
                                 int has_process_form, int *first)
{
	char local[64];
	size_t n = (size_t)snprintf(local, sizeof(local), "memscan %s", name);
	const char *rest = line + n, *end = line + len;
	size_t word = process_word(rest, end);

	if (!strcmp(name, "ps"))
		fprintf(out, "%smemscan remote ps HOST[:PORT]", *first ? "usage: " : "       ");
	else if (word) {
		fprintf(out, "%smemscan remote %s TARGET", *first ? "usage: " : "       ", name);
		rest += word;
	} else if (!has_process_form)
		fprintf(out, "%smemscan remote %s", *first ? "usage: " : "       ", name);
	else
		return 0;
	fwrite(rest, 1, (size_t)(end - rest), out);
	*first = 0;
	return 1;
}

/* Whether the synopsis of USAGE has a form "memscan NAME PID|SOURCE". */
static int has_process_form(const char *usage, const char *name)
{
	char form[80];

	snprintf(form, sizeof(form), "memscan %s PID", name);
	if (strstr(usage, form))
		return 1;
	snprintf(form, sizeof(form), "memscan %s SOURCE", name);
	return strstr(usage, form) != NULL;
}

/* `memscan remote CMD --help`: CMD's help with the remote synopsis, then the remote options. */
static void print_remote_help(FILE *out, const struct cli_cmd *cmd)
{
	char local[64];
	const char *p = cmd->usage;
	int first = 1, in_synopsis = 1, kept = 0, with_process = has_process_form(cmd->usage, cmd->name);

	snprintf(local, sizeof(local), "memscan %s", cmd->name);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
		const char *text = p + strspn(p, " ");

		if (in_synopsis && !strncmp(p, "usage: ", 7))
			text = p + 7;
		if (in_synopsis && !strncmp(text, local, strlen(local)))
			kept = print_remote_synopsis(out, cmd->name, text, len - (size_t)(text - p),
			                             with_process, &first);
		else if (in_synopsis && *text == '[') { /* a synopsis' continuation goes with its line */
			if (kept)
				fwrite(p, 1, len, out);
		} else {
			in_synopsis = 0;
			fwrite(p, 1, len, out);
		}
		p += len;
	}
	fputs("Remote (memscan remote ", out);
	fputs(cmd->name, out);
	fputs("):\n" REMOTE_OPTIONS_HELP, out);
}

int cli_print_help(FILE *out, const char *name)
{
	const struct cli_cmd *cmd = find_command(name);

	if (!cmd) {
		cli_err("unknown command '%s' (see 'memscan help')", name);
		return CLI_USAGE;
	}
	if (cli_remote_mode && strcmp(name, "remote"))
		print_remote_help(out, cmd);
	else
		fputs(cmd->usage, out);
	return CLI_OK;
}

static int cmd_help(int argc, char **argv)
{
	if (argc > 2) {
		cli_err("help takes at most one command name (see 'memscan help')");
		return CLI_USAGE;
	}
	if (argc == 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h"))
		return cli_print_help(stdout, argv[1]);
	print_overview(stdout);
	return CLI_OK;
}

static int dispatch(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2) {
		cli_err("no command given");
		print_overview(stderr);
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return cmd_help(1, argv);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("memscan %s\n", memscan_version());
		return CLI_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		if (argv[1][0] == '-')
			cli_err("unknown option '%s' (a command comes first; see 'memscan help')", argv[1]);
		else
			cli_err("unknown command '%s' (see 'memscan help' for the list)", argv[1]);
		return CLI_USAGE;
	}
	return cmd->fn(argc - 1, argv + 1);
}

/* Flushes stdout; a write error (e.g. a closed pipe) turns success into CLI_FAIL. */
static int finish_stdout(int ret)
{
	int failed = fflush(stdout) != 0 || ferror(stdout);

	if (failed && errno != EPIPE)
		cli_err("cannot write to stdout: %s", strerror(errno));
	if (failed && ret == CLI_OK)
		return CLI_FAIL;
	return ret;
}

int main(int argc, char **argv)
{
	static char outbuf[1 << 16];

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	return cli_cancel_exit_code(finish_stdout(dispatch(argc, argv)));
}
