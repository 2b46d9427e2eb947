/* SPDX-License-Identifier: MIT */
/* The CLI's progress line itself (cli/progress.c linked in), drawn on a pseudo-terminal as stderr:
 * bytes against a known total, bytes whose total is not known (a remote narrowing of found values),
 * which show no percentage or ETA, and a percentage in parts (a pointer search's levels). */
#include "cliutil.h"

#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h" /* cli/progress.c is linked in */

/* Draws one report of DONE of TOTAL bytes (PARTS not 0: of a percentage in PARTS levels) with stderr
 * on a pseudo-terminal; what it received, NUL-terminated, in a static buffer. */
static const char *draw_parts_on_tty(uint64_t total, unsigned parts, uint64_t done)
{
	static char out[1024];
	int master, slave, saved = dup(STDERR_FILENO);
	struct cli_progress p;
	ssize_t n;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_true(saved >= 0);
	assert_true(dup2(slave, STDERR_FILENO) >= 0);
	if (parts)
		cli_progress_start_parts(&p, "pointer search", total, parts, "level", 0);
	else
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

static const char *draw_on_tty(uint64_t total, uint64_t done)
{
	return draw_parts_on_tty(total, 0, done);
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

/* A percentage in equal parts names the part DONE lies in; the end is the last part at 100%. */
static void test_line_in_parts(void **state)
{
	const uint64_t total = 1u << 20;

	(void)state;
	assert_non_null(
	    strstr(draw_parts_on_tty(total, 4, 0), "\rmemscan: pointer search, level 1 of 4 (0%)\033[K"));
	assert_non_null(strstr(draw_parts_on_tty(total, 4, total * 62 / 100), ", level 3 of 4 (61%)"));
	assert_non_null(strstr(draw_parts_on_tty(total, 3, total / 3), ", level 2 of 3 (33%)"));
	assert_non_null(strstr(draw_parts_on_tty(total, 3, total), ", level 3 of 3 (100%)"));
	assert_null(strstr(draw_parts_on_tty(total, 4, total / 2), "ETA"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_with_total),
		cmocka_unit_test(test_line_past_total),
		cmocka_unit_test(test_line_without_total),
		cmocka_unit_test(test_line_in_parts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
