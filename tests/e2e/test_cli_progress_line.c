/* SPDX-License-Identifier: MIT */
/* The CLI's progress line itself (cli/progress.c linked in), drawn on a pseudo-terminal as stderr:
 * bytes against a known total, and bytes whose total is not known (a remote narrowing of found
 * values), which show no percentage or ETA. */
#include "cliutil.h"

#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h" /* cli/progress.c is linked in */

/* Draws one report of DONE of TOTAL bytes with stderr on a pseudo-terminal; what it received,
 * NUL-terminated, in a static buffer. */
static const char *draw_on_tty(uint64_t total, uint64_t done)
{
	static char out[1024];
	int master, slave, saved = dup(STDERR_FILENO);
	struct cli_progress p;
	ssize_t n;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_true(saved >= 0);
	assert_true(dup2(slave, STDERR_FILENO) >= 0);
	cli_progress_start_bytes(&p, "narrow", total, 0);
	cli_progress_report(&p, done);
	cli_progress_end(&p, NULL);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(slave);
	n = read(master, out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	close(master);
	return out;
}

static void test_line_with_total(void **state)
{
	const char *out = draw_on_tty(64ull << 20, 16ull << 20);

	(void)state;
	assert_non_null(strstr(out, "\rmemscan: narrow 16 MiB of 64 MiB (25%), "));
	assert_non_null(strstr(out, ", ETA "));
}

/* Reports past the total (libmemscan counts some bytes twice) are drawn as the total. */
static void test_line_past_total(void **state)
{
	const char *out = draw_on_tty(64ull << 20, 80ull << 20);

	(void)state;
	assert_non_null(strstr(out, "\rmemscan: narrow 64 MiB of 64 MiB (100%), "));
	assert_null(strstr(out, "80 MiB"));
}

static void test_line_without_total(void **state)
{
	const char *out = draw_on_tty(0, 12ull << 20);

	(void)state;
	assert_non_null(strstr(out, "\rmemscan: narrow 12 MiB, "));
	assert_non_null(strstr(out, "/s\033[K"));
	assert_null(strstr(out, " of "));
	assert_null(strstr(out, "ETA"));
	assert_null(strstr(out, "%"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_with_total),
		cmocka_unit_test(test_line_past_total),
		cmocka_unit_test(test_line_without_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
