/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan completion`: the scripts it prints load in bash, zsh and fish, and
 * complete commands, every option each command's --help names, and option values, in the real shells. */
#include "cliutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_MAX (1 << 16)

/* Saves `memscan completion SHELL` to the scratch directory; returns its path. */
static const char *save_script(const char *shell)
{
	const char *path = ms_scratch_path(shell);
	ms_run r;

	RUN(&r, "completion", shell);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	ms_write_str(path, r.out, 0644);
	ms_run_free(&r);
	return path;
}

/* Runs COMMAND (a shell command line) and returns its stdout in a static buffer. */
static const char *shell_out(const char *command)
{
	static char out[OUT_MAX];
	FILE *p = popen(command, "r");
	size_t n;

	assert_non_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	assert_int_equal(pclose(p), 0);
	return out;
}

/* What the bash script offers for LINE (the words typed so far; a trailing space starts a new word),
 * one candidate a line, each followed by a newline. */
static const char *bash_complete(const char *script, const char *line)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "bash -c 'source \"$1\"; line=$2; read -ra COMP_WORDS <<< \"$line\"; "
	         "[[ $line == *\" \" ]] && COMP_WORDS+=(\"\"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
	         "_memscan; printf \"%%s\\n\" \"${COMPREPLY[@]}\"' _ %s '%s'",
	         script, line);
	return shell_out(cmd);
}

/* True if OUT has WORD as a whole line. */
static int has_line(const char *out, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(out, word); p; p = strstr(p + 1, word))
		if ((p == out || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0' || p[n] == '\t'))
			return 1;
	return 0;
}

static int have(const char *program)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", program);
	return system(cmd) == 0;
}

static void test_bash_commands_and_values(void **state)
{
	const char *script = save_script("bash"), *out;

	(void)state;
	out = bash_complete(script, "memscan sc");
	assert_string_equal(out, "scan\n");
	out = bash_complete(script, "memscan ");
	assert_true(has_line(out, "regions") && has_line(out, "diff") && has_line(out, "completion"));
	out = bash_complete(script, "memscan scan 1 --pa");
	assert_string_equal(out, "--pattern\n--path\n");
	out = bash_complete(script, "memscan regions 1 --kind ");
	assert_string_equal(out, "heap\nstack\nanon\nfile\nspecial\n");
	out = bash_complete(script, "memscan remote ");
	assert_string_equal(
	    out,
	    "ps\nregions\nread\nscan\nsnapshot\ndiff\nheatmap\nnarrow\nmatches\nhunt\npointers\nresolve\n");
	out = bash_complete(script, "memscan remote diff host:1 --id");
	assert_string_equal(out, "--identity\n");
	out = bash_complete(script, "memscan remote heatmap host:1 --ce");
	assert_string_equal(out, "--cell\n");
	out = bash_complete(script, "memscan diff 1 -");
	assert_true(has_line(out, "--interval") && has_line(out, "-w") && !has_line(out, "--pattern"));
}

/* Every option `memscan CMD --help` names is offered after `memscan CMD -` (checked to fail when an
 * option is dropped from the generated lists). */
static void test_bash_offers_every_documented_option(void **state)
{
	const char *script = save_script("bash");
	ms_run help;
	char *save = NULL;

	(void)state;
	RUN(&help, "help");
	for (char *line = strtok_r(help.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char cmd[32], typed[64], *opts, *p, *save2 = NULL;
		ms_run usage;

		if (strncmp(line, "  ", 2) || line[2] == ' ' || sscanf(line + 2, "%31[a-z-] ", cmd) != 1)
			continue;
		if (!strcmp(cmd, "help")) /* its help is the overview, whose options come first: below */
			continue;
		RUN(&usage, cmd, "--help");
		assert_int_equal(usage.status, 0);
		/* remote's first word is a command: its options are those of the remote diff and scan */
		snprintf(typed, sizeof(typed), "memscan %s -",
		         strcmp(cmd, "remote") ? cmd : "remote diff h:1");
		opts = strdup(bash_complete(script, typed));
		if (!strcmp(cmd, "remote")) {
			const char *more = bash_complete(script, "memscan remote scan h:1 -");
			char *both = malloc(strlen(opts) + strlen(more) + 1);

			assert_non_null(both);
			memcpy(both, opts, strlen(opts));
			memcpy(both + strlen(opts), more, strlen(more) + 1);
			free(opts);
			opts = both;
		}
		for (p = strtok_r(usage.out, " \t\n[]|,=\":.()'", &save2); p;
		     p = strtok_r(NULL, " \t\n[]|,=\":.()'", &save2)) {
			if (strncmp(p, "--", 2) || p[2] < 'a' || p[2] > 'z')
				continue;
			if (!has_line(opts, p))
				fail_msg("memscan %s --help names %s, which completion does not offer", cmd,
				         p);
		}
		free(opts);
		ms_run_free(&usage);
	}
	ms_run_free(&help);
	assert_string_equal(bash_complete(script, "memscan --"), "--help\n--version\n");
}

/* File names with spaces stay one candidate. */
static void test_bash_file_names(void **state)
{
	const char *script = save_script("bash"), *out;
	char cmd[2048], dir[1024];

	(void)state;
	snprintf(dir, sizeof(dir), "%s", ms_scratch_path(""));
	ms_write_str(ms_scratch_path("my set.bin"), "", 0600);
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && bash -c 'source \"$1\"; COMP_WORDS=(memscan narrow my); COMP_CWORD=2; _memscan; "
	         "printf \"%%s\\n\" \"${COMPREPLY[@]}\"' _ %s",
	         dir, script);
	out = shell_out(cmd);
	assert_string_equal(out, "my set.bin\n");
}

/* Runs the zsh script's function with stubs of zsh's completion helpers, the words typed being WORDS
 * and the cursor on the last: what it hands _arguments or _describe, one item a line. */
static const char *zsh_complete(const char *script, const char *words)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
	         "zsh -c '_describe() { print -l -- describe \"$@\" }; _arguments() { print -l -- \"$@\" }; "
	         "compadd() { print -l -- compadd \"$@\" }; words=(%s); CURRENT=${#words}; source %s'",
	         words, script);
	return shell_out(cmd);
}

static void test_zsh_and_fish(void **state)
{
	const char *zsh = save_script("zsh"), *fish = save_script("fish"), *out;
	char cmd[1024];

	(void)state;
	if (!have("zsh") || !have("fish"))
		fail_msg("zsh and fish are needed for this test (scripts/deps.sh installs them)");
	snprintf(cmd, sizeof(cmd), "zsh -n %s && echo ok", zsh);
	assert_string_equal(shell_out(cmd), "ok\n");
	/* the function runs: the specs of scan's options, and remote's own on top of diff's */
	out = zsh_complete(zsh, "memscan scan 1 --pa");
	assert_non_null(strstr(out, "\n--pattern[hex bytes"));
	out = zsh_complete(zsh, "memscan remote diff h:1 --id");
	assert_non_null(strstr(out, "--identity[") && strstr(out, "\n--watch["));
	out = zsh_complete(zsh, "memscan sc");
	assert_string_equal(out, "describe\ncommand\ncommands\n");
	snprintf(cmd, sizeof(cmd),
	         "fish -c 'source %s; complete -C \"memscan sc\"; complete -C \"memscan scan 1 --pa\"; "
	         "complete -C \"memscan regions 1 --kind \"'",
	         fish);
	out = shell_out(cmd);
	assert_non_null(strstr(out, "scan\tsearch the memory of a process"));
	assert_true(has_line(out, "--pattern") && has_line(out, "--path"));
	assert_true(has_line(out, "heap") && has_line(out, "special"));
	snprintf(cmd, sizeof(cmd), "fish -c 'source %s; complete -C \"memscan remote \"'", fish);
	out = shell_out(cmd);
	assert_true(has_line(out, "snapshot") && !has_line(out, "keygen"));
}

static void test_bad_shell(void **state)
{
	ms_run r;

	(void)state;
	RUN(&r, "completion", "tcsh");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown shell 'tcsh'"));
	assert_string_equal(r.out, "");
	ms_run_free(&r);
	RUN(&r, "completion");
	assert_int_equal(r.status, 2);
	ms_run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bash_commands_and_values, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_bash_offers_every_documented_option, ms_scratch_setup,
		                                ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_bash_file_names, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test_setup_teardown(test_zsh_and_fish, ms_scratch_setup, ms_scratch_teardown),
		cmocka_unit_test(test_bad_shell),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
