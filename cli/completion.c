/* SPDX-License-Identifier: MIT */
/* `memscan completion bash|zsh|fish`: shell completion generated from the command table and each
 * command's usage text, so that it offers exactly what `memscan COMMAND --help` documents. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "output.h"

#define COMP_MAX_OPTS 48
#define COMP_NAME_MAX 32
#define COMP_DESC_MAX 96

/* An option a usage text names: --NAME (with its short form -S, if any), or a short option alone. */
struct comp_opt {
	char name[COMP_NAME_MAX]; /* long name without dashes; "" for a short option alone */
	char short_name;          /* 0 = none */
	int has_arg;              /* written "--name ARG" somewhere: takes a value */
	char desc[COMP_DESC_MAX]; /* the rest of its help line, without quotes or brackets */
};

/* Values offered for the options that take one of a fixed set. */
static const struct {
	const char *option;
	const char *choices;
} comp_choices[] = {
	{ "kind", "heap stack anon file special" },
	{ "type", "i8 u8 i16 u16 i32 u32 i64 u64 f32 f64 str" },
};

/* Options every `memscan remote COMMAND` takes besides the local command's. */
static const char *const remote_extra = "--identity --compress";

/* Prints S for a single-quoted shell word: quotes escaped as fish (\\') or zsh ('\\'') reads them,
 * and for zsh without the brackets and colons that end an _arguments description. */
static void put_quoted(const char *s, int zsh)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs(zsh ? "'\\''" : "\\'", stdout);
		else if (*s == '\\')
			fputs(zsh ? "\\" : "\\\\", stdout);
		else if (!zsh || !strchr("[]:", *s))
			putchar(*s);
	}
}

static const char *choices_of(const char *option)
{
	for (size_t i = 0; i < sizeof(comp_choices) / sizeof(comp_choices[0]); i++)
		if (!strcmp(comp_choices[i].option, option))
			return comp_choices[i].choices;
	return NULL;
}

/* True at P when "ARG" follows: a space, then an upper-case word (FILE, N, PAT). */
static int takes_arg(const char *p)
{
	return (*p == ' ' || *p == '=') && isupper((unsigned char)p[1]) && !islower((unsigned char)p[2]);
}

/* Copies the description after an option's argument on its help line into O->desc. */
static void take_desc(struct comp_opt *o, const char *p)
{
	size_t n = 0;

	if (o->desc[0])
		return;
	while (*p == ' ' || *p == '=' || isupper((unsigned char)*p) || *p == ',')
		p++;
	for (; *p && *p != '\n' && n + 1 < sizeof(o->desc); p++)
		if (!strchr("[]:\"\\$`(){}", *p))
			o->desc[n++] = *p;
	while (n && o->desc[n - 1] == ' ')
		n--;
	o->desc[n] = '\0';
}

static struct comp_opt *find_or_add(struct comp_opt *opts, size_t *n, const char *name, size_t len, char s)
{
	for (size_t i = 0; i < *n; i++) {
		struct comp_opt *o = &opts[i];

		if (len && strlen(o->name) == len && !strncmp(o->name, name, len))
			return o;
		if (s && o->short_name == s && (!len || !o->name[0])) { /* -o before -o, --output */
			if (len >= COMP_NAME_MAX)
				return NULL;
			memcpy(o->name, name, len);
			return o;
		}
	}
	if (*n == COMP_MAX_OPTS || len >= COMP_NAME_MAX)
		return NULL;
	memset(&opts[*n], 0, sizeof(opts[*n]));
	memcpy(opts[*n].name, name, len);
	opts[*n].short_name = s;
	return &opts[(*n)++];
}

/* The options USAGE names, in order of first mention, and --help; returns their count. */
static size_t usage_options(const char *usage, struct comp_opt *opts)
{
	size_t n = 1;

	memset(&opts[0], 0, sizeof(opts[0]));
	memcpy(opts[0].name, "help", 5);
	opts[0].short_name = 'h';
	memcpy(opts[0].desc, "show this command's help", 25);
	for (const char *p = usage; *p; p++) {
		int line_start = p >= usage + 2 && p[-1] == ' ' && (p == usage + 2 || p[-2] == ' ');
		char s = 0;
		const char *q = p, *name;
		struct comp_opt *o;
		size_t len;

		if (*p != '-' || (p > usage && !strchr(" [|", p[-1])))
			continue;
		if (isalpha((unsigned char)p[1]) && p[2] &&
		    strchr(", ]", p[2])) { /* -x, --long  or  -x ARG */
			s = p[1];
			q = p[2] == ',' && !strncmp(p + 3, " --", 3) ? p + 4 : NULL;
			if (!q) {
				o = find_or_add(opts, &n, "", 0, s);
				if (o && takes_arg(p + 2))
					o->has_arg = 1;
				if (o && line_start)
					take_desc(o, p + 2);
				p += 2;
				continue;
			}
		}
		if (q[0] != '-' || q[1] != '-' || !islower((unsigned char)q[2]))
			continue;
		name = q + 2;
		len = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-");
		o = find_or_add(opts, &n, name, len, s);
		if (!o)
			continue;
		if (s)
			o->short_name = s;
		if (takes_arg(name + len))
			o->has_arg = 1;
		if (line_start || s)
			take_desc(o, name + len);
		p = name + len - 1;
	}
	return n;
}

/* True for a command that takes a local PID (its synopsis, the usage up to the first blank line,
 * names one). */
static int takes_pid(const struct cli_cmd *c)
{
	const char *pid = strstr(c->usage, " PID"), *end = strstr(c->usage, "\n\n");

	return pid && (!end || pid < end);
}

/* The names of the commands (all but `remote` when NOT_REMOTE) for which TEST holds, space-separated. */
static void put_names(const struct cli_cmd *cmds, size_t n, int (*test)(const struct cli_cmd *),
                      int not_remote)
{
	for (size_t i = 0, k = 0; i < n; i++)
		if ((!test || test(&cmds[i])) && !(not_remote && !strcmp(cmds[i].name, "remote")))
			printf("%s%s", k++ ? " " : "", cmds[i].name);
}

/* ---- bash ------------------------------------------------------------------------------- */

static void bash_opts(const struct cli_cmd *c, int with_arg_only)
{
	struct comp_opt opts[COMP_MAX_OPTS];
	size_t n = usage_options(c->usage, opts);

	for (size_t i = 0; i < n; i++) {
		if (with_arg_only && !opts[i].has_arg)
			continue;
		if (opts[i].name[0])
			printf(" --%s", opts[i].name);
		if (opts[i].short_name)
			printf(" -%c", opts[i].short_name);
	}
}

static void print_bash(const struct cli_cmd *cmds, size_t ncmds)
{
	printf("# bash completion for memscan %s: generated by 'memscan completion bash'.\n"
	       "# Install: memscan completion bash > /usr/share/bash-completion/completions/memscan\n"
	       "# File names, one word each whatever they hold (spaces, globs), quoted by bash as it inserts "
	       "them.\n"
	       "_memscan_files() {\n"
	       "\tcompopt -o filenames 2>/dev/null\n"
	       "\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
	       "}\n"
	       "_memscan() {\n"
	       "\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	       "\tlocal cmd=${COMP_WORDS[1]} opts='' args='' extra='' pids=0\n"
	       "\tCOMPREPLY=()\n"
	       "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	       "\t\tCOMPREPLY=($(compgen -W '",
	       memscan_version());
	for (size_t i = 0; i < ncmds; i++)
		printf("%s ", cmds[i].name);
	printf("--help --version' -- \"$cur\"))\n\t\treturn\n\tfi\n"
	       "\tif [ \"$cmd\" = help ]; then\n\t\tCOMPREPLY=($(compgen -W '");
	for (size_t i = 0; i < ncmds; i++)
		printf("%s ", cmds[i].name);
	printf("--help' -- \"$cur\"))\n\t\treturn\n\tfi\n"
	       "\tif [ \"$cmd\" = remote ]; then\n"
	       "\t\tif [ \"$COMP_CWORD\" -eq 2 ]; then\n"
	       "\t\t\tCOMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n"
	       "\t\tcmd=${COMP_WORDS[2]} extra='%s'\n\tfi\n"
	       "\tcase $cmd in\n",
	       cli_remote_command_names(), remote_extra);
	for (size_t i = 0; i < ncmds; i++) {
		printf("\t%s) opts='", cmds[i].name);
		bash_opts(&cmds[i], 0);
		printf("'; args='");
		bash_opts(&cmds[i], 1);
		printf(" --identity'; pids=%d ;;\n", takes_pid(&cmds[i]));
	}
	printf("\tesac\n"
	       "\t[ -n \"$extra\" ] && pids=0\n"
	       "\tcase \" $args \" in\n"
	       "\t*\" $prev \"*)\n"
	       "\t\tcase $prev in\n");
	for (size_t i = 0; i < sizeof(comp_choices) / sizeof(comp_choices[0]); i++)
		printf("\t\t--%s) COMPREPLY=($(compgen -W '%s' -- \"$cur\")) ;;\n", comp_choices[i].option,
		       comp_choices[i].choices);
	printf(
	    "\t\t*) _memscan_files ;;\n"
	    "\t\tesac\n"
	    "\t\treturn ;;\n"
	    "\tesac\n"
	    "\tif [[ $cur == -* ]]; then\n"
	    "\t\tCOMPREPLY=($(compgen -W \"$opts $extra\" -- \"$cur\"))\n"
	    "\telse\n"
	    "\t\t_memscan_files\n"
	    "\t\t[ \"$pids\" = 1 ] && COMPREPLY+=($(compgen -W \"$(cd /proc 2>/dev/null && echo [0-9]*)\" -- "
	    "\"$cur\"))\n"
	    "\tfi\n"
	    "}\n"
	    "complete -F _memscan memscan\n");
}

/* ---- zsh -------------------------------------------------------------------------------- */

static void zsh_spec(const struct comp_opt *o)
{
	const char *choices = choices_of(o->name);

	for (int f = 0; f < 2; f++) {
		if (f == 0 ? !o->name[0] : !o->short_name)
			continue;
		if (f == 0)
			printf(" \\\n\t\t\t'--%s", o->name);
		else
			printf(" \\\n\t\t\t'-%c", o->short_name);
		putchar('[');
		put_quoted(o->desc, 1);
		putchar(']');
		if (o->has_arg && choices)
			printf(":%s:(%s)", o->name, choices);
		else if (o->has_arg)
			printf(":%s:_files", o->name[0] ? o->name : "value");
		printf("'");
	}
}

static void print_zsh(const struct cli_cmd *cmds, size_t ncmds)
{
	printf("#compdef memscan\n"
	       "# zsh completion for memscan %s: generated by 'memscan completion zsh'.\n"
	       "# Install: memscan completion zsh > \"${fpath[1]}/_memscan\"\n"
	       "_memscan() {\n"
	       "\tlocal -a commands remote_commands\n"
	       "\tcommands=(",
	       memscan_version());
	for (size_t i = 0; i < ncmds; i++) {
		printf(" '%s:", cmds[i].name);
		put_quoted(cmds[i].summary, 1);
		putchar('\'');
	}
	printf(" )\n\tremote_commands=(%s)\n", cli_remote_command_names());
	printf("\tif (( CURRENT == 2 )); then\n\t\t_describe command commands\n\t\treturn\n\tfi\n"
	       "\tlocal cmd=$words[2]\n"
	       "\tlocal -a extra\n"
	       "\tif [[ $cmd == remote ]]; then\n"
	       "\t\tif (( CURRENT == 3 )); then\n\t\t\tcompadd -a remote_commands\n\t\t\treturn\n\t\tfi\n"
	       "\t\tcmd=$words[3]\n"
	       "\t\textra=('--identity[this client private key]:key:_files' '--compress[compress pages]')\n"
	       "\t\tshift words\n\t\t(( CURRENT-- ))\n"
	       "\tfi\n"
	       "\tshift words\n\t(( CURRENT-- ))\n"
	       "\tcase $cmd in\n");
	for (size_t i = 0; i < ncmds; i++) {
		struct comp_opt opts[COMP_MAX_OPTS];
		size_t n = usage_options(cmds[i].usage, opts);

		printf("\t%s)\n\t\t_arguments -s $extra", cmds[i].name);
		for (size_t k = 0; k < n; k++)
			zsh_spec(&opts[k]);
		printf(" \\\n\t\t\t'*:argument:_files' ;;\n");
	}
	printf("\tesac\n}\n_memscan \"$@\"\n");
}

/* ---- fish ------------------------------------------------------------------------------- */

static void print_fish(const struct cli_cmd *cmds, size_t ncmds)
{
	printf("# fish completion for memscan %s: generated by 'memscan completion fish'.\n"
	       "# Install: memscan completion fish > ~/.config/fish/completions/memscan.fish\n"
	       "complete -c memscan -f\n",
	       memscan_version());
	for (size_t i = 0; i < ncmds; i++) {
		printf("complete -c memscan -n __fish_use_subcommand -a %s -d '", cmds[i].name);
		put_quoted(cmds[i].summary, 0);
		fputs("'\n", stdout);
	}
	printf("complete -c memscan -n '__fish_seen_subcommand_from remote; and not "
	       "__fish_seen_subcommand_from %s' -a '%s'\n",
	       cli_remote_command_names(), cli_remote_command_names());
	printf("complete -c memscan -n '__fish_seen_subcommand_from remote' -l identity -r -F -d 'this "
	       "client private key'\n"
	       "complete -c memscan -n '__fish_seen_subcommand_from remote' -l compress -d 'compress "
	       "pages'\n");
	for (size_t i = 0; i < ncmds; i++) {
		struct comp_opt opts[COMP_MAX_OPTS];
		size_t n = usage_options(cmds[i].usage, opts);

		for (size_t k = 0; k < n; k++) {
			const char *choices = choices_of(opts[k].name);

			printf("complete -c memscan -n '__fish_seen_subcommand_from %s'", cmds[i].name);
			if (opts[k].name[0])
				printf(" -l %s", opts[k].name);
			if (opts[k].short_name)
				printf(" -s %c", opts[k].short_name);
			if (opts[k].has_arg && choices)
				printf(" -x -a '%s'", choices);
			else if (opts[k].has_arg)
				printf(" -r -F");
			fputs(" -d '", stdout);
			put_quoted(opts[k].desc, 0);
			fputs("'\n", stdout);
		}
	}
	fputs("complete -c memscan -n '__fish_seen_subcommand_from ", stdout);
	put_names(cmds, ncmds, takes_pid, 1);
	fputs("; and not __fish_seen_subcommand_from remote' -a '(__fish_complete_pids)'\n", stdout);
	fputs("complete -c memscan -n '__fish_seen_subcommand_from ", stdout);
	put_names(cmds, ncmds, NULL, 1);
	fputs("' -F\n", stdout);
}

int cmd_completion(int argc, char **argv)
{
	size_t n;
	const struct cli_cmd *cmds = cli_commands(&n);

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
		return cli_print_help(stdout, "completion");
	if (argc != 2) {
		cli_err("usage: memscan completion bash|zsh|fish");
		return CLI_USAGE;
	}
	if (!strcmp(argv[1], "bash"))
		print_bash(cmds, n);
	else if (!strcmp(argv[1], "zsh"))
		print_zsh(cmds, n);
	else if (!strcmp(argv[1], "fish"))
		print_fish(cmds, n);
	else {
		cli_err("completion: unknown shell '%s' (bash, zsh or fish)", argv[1]);
		return CLI_USAGE;
	}
	return CLI_OK;
}
