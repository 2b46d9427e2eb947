/* SPDX-License-Identifier: MIT */
/* memscan hunt PID: the interactive value hunt (scan, then narrow step by step), one set in memory. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <histedit.h>

#include <memscan/memscan.h>

#include "args.h"
#include "cancel.h"
#include "cmd.h"
#include "cmd_values.h"
#include "output.h"
#include "vout.h"
#include "vset.h"

#define HUNT_UNDO     8 /* sets kept for undo (an unknown-value set holds a copy of the regions) */
#define HUNT_UNDO_MEM ((uint64_t)1 << 30) /* default bytes the kept sets may take together */
#define HUNT_LINE_MAX 4096                /* longest input line and its end; a longer one is refused whole */
#define HUNT_HISTORY  500                 /* lines of line-editing history */

/* One hunting session. */
struct hunt {
	struct cli_target t;
	const struct cli_opts *o;
	memscan_value_type type;
	struct cli_vset steps[HUNT_UNDO]; /* steps[n - 1] is the current set */
	int n;
	uint64_t undo_memory; /* bytes the kept sets may take together */
	int trimmed;          /* said that the history was trimmed for memory */
	int done;             /* quit, end of input, or the process went away */
	int ret;              /* the exit status: CLI_OK unless the process went away */
	EditLine *el;         /* NULL when stdin is not a terminal: plain lines, no prompt */
	History *history;
	char prompt[64];
};

static struct cli_vset *current(struct hunt *h)
{
	return h->n ? &h->steps[h->n - 1] : NULL;
}

/* Bytes SET takes in this process: an exact set's addresses and two values a candidate, an
 * unknown-value set's copy (at most a value a slot). A set an agent holds is bounded by its budget. */
static uint64_t set_bytes(const struct cli_vset *set)
{
	uint64_t width = cli_vset_width(set);

	if (set->remote.id)
		return 0;
	return cli_vset_count(set) * (cli_vset_is_unknown(set) ? width : 8 + 2 * width);
}

static void drop_oldest(struct hunt *h)
{
	cli_vset_free(&h->steps[0]);
	memmove(&h->steps[0], &h->steps[1], (size_t)(h->n - 1) * sizeof(h->steps[0]));
	h->n--;
}

/* Makes SET the current step, dropping the oldest while HUNT_UNDO are kept or the kept sets take
 * more than --undo-memory together (the current step is always kept). */
static void push(struct hunt *h, struct cli_vset *set)
{
	uint64_t total = set_bytes(set);

	if (h->n == HUNT_UNDO)
		drop_oldest(h);
	h->steps[h->n++] = *set;
	for (int i = 0; i < h->n - 1; i++)
		total += set_bytes(&h->steps[i]);
	if (h->n == 1 || total <= h->undo_memory)
		return;
	while (h->n > 1 && total > h->undo_memory) {
		total -= set_bytes(&h->steps[0]);
		drop_oldest(h);
	}
	if (!h->trimmed) /* once a session */
		cli_err("undo history trimmed to %d step%s (memory: see --undo-memory)", h->n,
		        h->n == 1 ? "" : "s");
	h->trimmed = 1;
}

static void drop_all(struct hunt *h)
{
	while (h->n)
		cli_vset_free(&h->steps[--h->n]);
}

static void print_count(struct hunt *h)
{
	struct cli_vset *set = current(h);

	if (!set)
		printf("no candidates: type a value to scan for, or 'snapshot'\n");
	else if (cli_vset_is_unknown(set))
		printf("%llu slots of %s remembered (unknown value)\n",
		       (unsigned long long)cli_vset_count(set), memscan_value_type_name(h->type));
	else
		printf("%llu candidate%s\n", (unsigned long long)cli_vset_count(set),
		       cli_vset_count(set) == 1 ? "" : "s");
	fflush(stdout);
}

/* Reports ERR of a step; a process that went away ends the session. */
static void step_err(struct hunt *h, int err, const char *what)
{
	int ret;

	if (err == MEMSCAN_ERR_CANCELLED) {
		cli_err("interrupted: the candidates are as before");
		return;
	}
	if (err == MEMSCAN_ERR_LIMIT) {
		cli_err("more than %llu candidates while %s: the candidates are as before; try a more "
		        "specific value",
		        (unsigned long long)MEMSCAN_VALUE_SET_MAX_DEFAULT, what);
		return;
	}
	ret = cli_target_err(&h->t, err, what);
	if (err == MEMSCAN_ERR_PROCESS_GONE || err == MEMSCAN_ERR_NO_PROCESS) {
		h->ret = ret; /* the session's exit status */
		h->done = 1;
	}
}

/* The first step: scans for TEXT, or remembers every value when TEXT is NULL. */
static void first_scan(struct hunt *h, const char *text)
{
	memscan_value_scan_options sopts = { .align = h->o->align };
	struct cli_vquery q = { .type = h->type, .text = text };
	struct cli_vregions r = { 0 };
	memscan_value *value = NULL;
	struct cli_vset set;
	int err;

	if (text && cli_value_parse(h->type, "value", text, NULL, &value) != CLI_OK)
		return;
	q.value = value;
	err = cli_value_regions(&h->t, &h->o->filter, &r);
	if (err != CLI_OK) { /* said why; the process's map is gone or unreadable: nothing to hunt */
		h->ret = err;
		h->done = 1;
	} else {
		err = cli_vset_scan(&h->t, &r, &q, &sopts, &set);
		if (err == MEMSCAN_OK)
			push(h, &set);
		else
			step_err(h, err, "scanning");
	}
	memscan_region_list_free(r.list);
	memscan_value_free(value);
	if (!h->done)
		print_count(h);
}

/* A narrowing step with predicate KIND (operand TEXT for the kinds that take one). */
static void narrow_step(struct hunt *h, int kind, const char *text)
{
	struct cli_vset *set = current(h), next;
	memscan_value *operand = NULL;
	struct cli_vpred p;
	int err;

	if (!set) {
		cli_err(
		    "nothing to compare yet: type a value to scan for it, or 'snapshot' to remember every "
		    "value first");
		return;
	}
	if (cli_pred_parse(h->type, cli_vset_width(set), kind, text, NULL, &p, &operand) == CLI_OK) {
		err = cli_vset_narrow(set, &p, 0, &next);
		if (err == MEMSCAN_OK)
			push(h, &next);
		else
			step_err(h, err, "narrowing");
		print_count(h);
	}
	memscan_value_free(operand);
}

/* list: the first candidates and their values now, without changing the set. */
static void list_step(struct hunt *h)
{
	struct cli_vpred any = { .pred = { .kind = MEMSCAN_PRED_ANY } };
	struct cli_vset *set = current(h), now;
	struct cli_vout v;
	int err;

	if (!set || cli_vset_is_unknown(set)) {
		print_count(h);
		return;
	}
	err = cli_vset_narrow(set, &any, 0, &now);
	if (err != MEMSCAN_OK) {
		step_err(h, err, "reading the candidates");
		return;
	}
	cli_vout_init(&v, &now, stdout, 0, CLI_VOUT_SHOWN);
	err = cli_vout_print(&v, &now);
	cli_vout_release(&v);
	cli_vset_free(&now);
	if (err != MEMSCAN_OK)
		step_err(h, err, "printing the candidates");
	else
		print_count(h);
}

static void type_step(struct hunt *h, const char *arg)
{
	memscan_value_type type;

	if (!*arg) {
		printf("type %s\n", memscan_value_type_name(h->type));
		return;
	}
	if (cli_value_type(arg, &type) != CLI_OK)
		return;
	drop_all(h);
	h->type = type;
	printf("type %s; ", memscan_value_type_name(type));
	print_count(h);
}

static void undo_step(struct hunt *h)
{
	if (!h->n) {
		cli_err("nothing to undo");
		return;
	}
	cli_vset_free(&h->steps[--h->n]);
	print_count(h);
}

/* snapshot: remembers every value of a number type, to compare with later. */
static void snapshot_step(struct hunt *h)
{
	if (h->type == MEMSCAN_VALUE_STR) {
		cli_err("snapshot remembers numbers, not strings: choose a number type first (e.g. 'type "
		        "i32')");
		return;
	}
	drop_all(h);
	first_scan(h, NULL);
}

/* True (said so) if CMD is a command that takes no argument and ARG is not empty. */
static int refuse_arg(const char *cmd, const char *arg)
{
	static const char *const bare[] = { "quit", "exit", "q",     "help",    "?",
		                            "list", "undo", "reset", "snapshot" };

	if (!*arg)
		return 0;
	for (size_t i = 0; i < sizeof(bare) / sizeof(bare[0]); i++)
		if (!strcmp(cmd, bare[i])) {
			cli_err("%s takes no argument (to look for the text, type 'value %s ...')", cmd, cmd);
			return 1;
		}
	return 0;
}

/* The command CMD with the rest of the line ARG (both trimmed). Returns 1 if it was one. */
static int run_command(struct hunt *h, const char *cmd, const char *arg)
{
	static const struct {
		const char *word;
		int kind;
	} preds[] = { { ">", MEMSCAN_PRED_INCREASED },
		      { "<", MEMSCAN_PRED_DECREASED },
		      { "=", MEMSCAN_PRED_UNCHANGED },
		      { "!=", MEMSCAN_PRED_CHANGED } };

	for (size_t i = 0; i < sizeof(preds) / sizeof(preds[0]); i++)
		if (!strcmp(cmd, preds[i].word) && !*arg) {
			narrow_step(h, preds[i].kind, NULL);
			return 1;
		}
	if (refuse_arg(cmd, arg))
		return 1;
	if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit") || !strcmp(cmd, "q"))
		h->done = 1;
	else if (!strcmp(cmd, "help") || !strcmp(cmd, "?"))
		fputs(HUNT_COMMANDS_HELP, stdout);
	else if (!strcmp(cmd, "list"))
		list_step(h);
	else if (!strcmp(cmd, "type"))
		type_step(h, arg);
	else if (!strcmp(cmd, "undo"))
		undo_step(h);
	else if (!strcmp(cmd, "reset")) {
		drop_all(h);
		print_count(h);
	} else if (!strcmp(cmd, "snapshot"))
		snapshot_step(h);
	else
		return 0;
	return 1;
}

/* A value to scan for or narrow to. */
static void value_step(struct hunt *h, const char *text)
{
	memscan_value *check = NULL;

	if (!current(h)) {
		first_scan(h, text);
		return;
	}
	/* a number is checked here, so that a mistake is called a value, not an --eq operand */
	if (h->type == MEMSCAN_VALUE_STR || cli_value_parse(h->type, "value", text, NULL, &check) == CLI_OK)
		narrow_step(h, MEMSCAN_PRED_EQ, text);
	memscan_value_free(check);
}

static void handle_line(struct hunt *h, char *line)
{
	char *cmd, *arg, *sep;
	size_t n;

	while (*line == ' ' || *line == '\t')
		line++;
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
		line[--n] = '\0';
	if (!*line)
		return;
	cmd = line;
	sep = line + strcspn(line, " \t");
	arg = sep;
	if (*sep)
		*arg++ = '\0';
	arg += strspn(arg, " \t");
	if (run_command(h, cmd, arg))
		return;
	if (!strcmp(cmd, "value") || !strcmp(cmd, "v"))
		value_step(h, arg);
	else if ((cmd[0] == '+' || cmd[0] == '-') && cmd[1] && !*arg)
		narrow_step(h, cmd[0] == '+' ? MEMSCAN_PRED_INCREASED_BY : MEMSCAN_PRED_DECREASED_BY,
		            cmd + 1);
	else if (*arg && h->type != MEMSCAN_VALUE_STR)
		cli_err("unknown command '%s' (type 'help')", cmd);
	else {
		if (*arg) /* a str value with spaces: the whole line */
			*sep = ' ';
		value_step(h, cmd);
	}
}

/* ---- input -------------------------------------------------------------------------------- */

static char *hunt_prompt(EditLine *el)
{
	struct hunt *h = NULL;

	el_get(el, EL_CLIENTDATA, &h);
	return h->prompt;
}

static void input_open(struct hunt *h)
{
	HistEvent ev;

	if (!isatty(STDIN_FILENO))
		return;
	h->el = el_init("memscan", stdin, stdout, stderr);
	h->history = history_init();
	if (!h->el || !h->history)
		return;
	history(h->history, &ev, H_SETSIZE, HUNT_HISTORY);
	el_set(h->el, EL_CLIENTDATA, h);
	el_set(h->el, EL_PROMPT, hunt_prompt);
	el_set(h->el, EL_EDITOR, "emacs");
	el_set(h->el, EL_HIST, history, h->history);
}

static void input_close(struct hunt *h)
{
	if (h->el)
		el_end(h->el);
	if (h->history)
		history_end(h->history);
}

/* Refuses a line longer than BUF holds: BUF becomes an empty line. */
static void too_long(char *buf, size_t size)
{
	cli_err("line too long (at most %zu bytes): ignored", size - 2);
	buf[0] = '\0';
}

/* The next line into BUF; 0 at the end of input. A Ctrl-C at the prompt gives an empty line. */
static int input_line(struct hunt *h, char *buf, size_t size)
{
	HistEvent ev;
	const char *line;
	int count = 0, c;

	snprintf(h->prompt, sizeof(h->prompt), "%s> ", memscan_value_type_name(h->type));
	if (!h->el) {
		if (!fgets(buf, (int)size, stdin)) {
			if (!ferror(stdin) || !cli_cancelled())
				return 0;
			clearerr(stdin); /* Ctrl-C while waiting for a line: go on */
			buf[0] = '\0';
			return 1;
		}
		if (!strchr(buf, '\n') && strlen(buf) == size - 1) { /* too long: refused whole */
			while ((c = getchar()) != EOF && c != '\n')
				;
			too_long(buf, size);
		}
		return 1;
	}
	line = el_gets(h->el, &count);
	if (!line)
		return cli_cancelled() ? (buf[0] = '\0', fputc('\n', stdout), 1) : 0;
	if (strlen(line) >= size) /* el_gets's line ends with its newline */
		too_long(buf, size);
	else
		snprintf(buf, size, "%s", line);
	if (strspn(line, " \t\n") < strlen(line))
		history(h->history, &ev, H_ENTER, line);
	return 1;
}

static int hunt_run(struct hunt *h)
{
	char line[HUNT_LINE_MAX];

	input_open(h);
	if (h->el)
		printf("hunting %s values in PID %d: type a value, or 'help'\n",
		       memscan_value_type_name(h->type), h->t.pid);
	while (!h->done && input_line(h, line, sizeof(line))) {
		handle_line(h, line);
		fflush(stdout);
		/* Ctrl-C cancelled at most that step; SIGTERM ends the session as shells report it */
		if (cli_cancel_reset() == SIGTERM) {
			h->ret = 128 + SIGTERM;
			break;
		}
	}
	/* a SIGTERM that came with the end of input still ends the session as SIGTERM */
	if (!h->ret && cli_cancel_reset() == SIGTERM)
		h->ret = 128 + SIGTERM;
	input_close(h);
	drop_all(h);
	return h->ret;
}

int cmd_hunt(int argc, char **argv)
{
	const uint32_t allowed = OPT_BIT(OPT_TYPE) | OPT_BIT(OPT_ALIGN) | OPT_BIT(OPT_UNDO_MEMORY) |
	                         OPT_BIT(OPT_QUIET) | OPTS_FILTER;
	struct hunt h = { 0 };
	struct cli_opts o;
	int ret, done;

	ret = cli_parse_cmd(argc, argv, "hunt", allowed, 1, &o, &done);
	if (ret != CLI_OK || done)
		return ret;
	if (o.npos < 1) {
		cli_err("missing PID (usage: see 'memscan hunt --help')");
		return CLI_USAGE;
	}
	h.o = &o;
	h.undo_memory = o.undo_memory ? o.undo_memory : HUNT_UNDO_MEM;
	h.type = MEMSCAN_VALUE_I32;
	if (o.type && cli_value_type(o.type, &h.type) != CLI_OK)
		return CLI_USAGE;
	ret = cli_target_open(&o, o.pos[0], &h.t);
	if (ret == CLI_OK)
		ret = cli_target_need_process(
		    &h.t, "hunt narrows values as a running process changes them, and a snapshot file does "
		          "not change: scan it with memscan scan FILE --type T --value V");
	if (ret == CLI_OK)
		ret = hunt_run(&h);
	cli_target_close(&h.t);
	return ret;
}
