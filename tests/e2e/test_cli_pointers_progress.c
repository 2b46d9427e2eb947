/* SPDX-License-Identifier: MIT */
/* End-to-end tests of `memscan pointers` on a terminal (a pseudo-terminal here): loading a snapshot
 * file, reading a process, indexing, searching and following saved chains draw their progress lines
 * and clear them (nothing with --quiet), and Ctrl-C stops the load, the index, a deep search or a
 * rescan promptly, exit 130, no chains file written or rewritten. The search's source is a synthetic snapshot
 * file as pointer-dense as a heap of small linked objects. */
#include "ttyutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DENSE_MODULE 0x555600000000ull /* libdense.so: an r--p page, then 64 KiB of rw-p data */
#define DENSE_HEAP   0x7f3000000000ull
#define DENSE_BYTES  (64ull << 20)
#define DENSE_OBJECT 32u /* bytes of a heap object: a link to a random object, then plain words */

struct env {
	const char *dir;
	char snap[4200], chains[4200], to[32];
};

static uint64_t dense_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void dense_add(memscan_snapshot *snap, uint64_t start, uint64_t len, uint32_t perms, uint32_t kind,
                      const char *path, uint8_t **ret_data)
{
	memscan_region g = { .start = start, .end = start + len, .perms = perms, .kind = kind, .path = path };

	assert_int_equal(memscan_snapshot_add_region(snap, &g, ret_data), MEMSCAN_OK);
}

/* Writes to PATH a snapshot whose heap is DENSE_BYTES of objects each linking a random one, and whose
 * module data holds a root into the heap every 4 KiB: every 4 KiB window of the heap has about 128
 * holders, so each level of a search expands about 128 times the addresses of the one before. */
static void write_dense_snapshot(const char *path)
{
	const uint64_t nobj = DENSE_BYTES / DENSE_OBJECT, R = MEMSCAN_PERM_READ;
	memscan_snapshot *snap = NULL;
	uint8_t *code, *data, *heap;
	uint64_t x = 0x2545F4914F6CDD1Dull;

	assert_int_equal(memscan_snapshot_new(1, 1, &snap), MEMSCAN_OK);
	dense_add(snap, DENSE_MODULE, 4096, R, MEMSCAN_KIND_FILE, "/usr/lib/libdense.so", &code);
	dense_add(snap, DENSE_MODULE + 4096, 65536, R | MEMSCAN_PERM_WRITE, MEMSCAN_KIND_FILE,
	          "/usr/lib/libdense.so", &data);
	dense_add(snap, DENSE_HEAP, DENSE_BYTES, R | MEMSCAN_PERM_WRITE, MEMSCAN_KIND_HEAP, "[heap]", &heap);
	for (uint64_t i = 0; i < nobj; i++) {
		uint64_t link = DENSE_HEAP + dense_next(&x) % nobj * DENSE_OBJECT, count = i % 97;

		memcpy(heap + i * DENSE_OBJECT, &link, 8);
		memcpy(heap + i * DENSE_OBJECT + 8, &count, 8);
	}
	for (uint64_t off = 0; off < 65536; off += 4096) {
		uint64_t root = DENSE_HEAP + dense_next(&x) % nobj * DENSE_OBJECT;

		memcpy(data + off, &root, 8);
	}
	assert_int_equal(memscan_snapshot_save(snap, path), MEMSCAN_OK);
	memscan_snapshot_free(snap);
}

static int setup(void **state)
{
	static struct env e;

	e.dir = ms_tmpdir();
	if (!e.dir)
		return -1;
	snprintf(e.snap, sizeof(e.snap), "%s/dense.snap", e.dir);
	snprintf(e.chains, sizeof(e.chains), "%s/dense.chains", e.dir);
	/* the count of an object in the middle of the heap */
	snprintf(e.to, sizeof(e.to), "0x%llx", (unsigned long long)(DENSE_HEAP + DENSE_BYTES / 2 + 8));
	write_dense_snapshot(e.snap);
	*state = &e;
	return 0;
}

static int teardown(void **state)
{
	ms_tmpdir_remove(((struct env *)*state)->dir);
	return 0;
}

/* OUT shows NEEDLE and ends by clearing the line. */
static void assert_drawn(const char *out, const char *needle)
{
	size_t len = strlen(out);

	assert_non_null(strstr(out, needle));
	assert_true(len >= 4);
	assert_string_equal(out + len - 4, "\r\033[K");
}

/* The line the load of the snapshot file PATH starts with: "\rmemscan: loading PATH 0 B of SIZE (0%)". */
static const char *load_line(const char *path)
{
	static char line[4400];
	char size[32];
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	snprintf(line, sizeof(line), "\rmemscan: loading %s 0 B of %s (0%%)", path,
	         memscan_size_format((uint64_t)st.st_size, size, sizeof(size)));
	return line;
}

/* A snapshot file: its load against the file's size, the index against the snapshot's bytes, the
 * search by level; -q: nothing. */
static void test_pointers_file_on_tty(void **state)
{
	struct env *e = *state;
	const char *run[] = { "pointers", e->snap, "--to", e->to, "--depth", "2", NULL };
	const char *quiet[] = { "pointers", e->snap, "--to", e->to, "--depth", "2", "-q", NULL };
	const char *out;
	int status;

	out = ms_run_on_tty(run, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_drawn(out, load_line(e->snap));
	assert_drawn(out, "\rmemscan: pointer index 0 B of 64.1 MiB (0%)");
	assert_drawn(out, "\rmemscan: pointer search, level 1 of 2 (0%)\033[K");
	out = ms_run_on_tty(quiet, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_string_equal(out, "");
}

/* resolve loads a snapshot file as pointers does: the same line on a terminal, none with -q (the chain
 * itself may break: the load is what is checked). */
static void test_resolve_file_on_tty(void **state)
{
	struct env *e = *state;
	const char *run[] = { "resolve", e->snap, "[heap]+0x0 -> 0x0", NULL };
	const char *quiet[] = { "resolve", e->snap, "[heap]+0x0 -> 0x0", "-q", NULL };
	const char *out;
	int status;

	out = ms_run_on_tty(run, NULL, NULL, &status);
	assert_drawn(out, load_line(e->snap));
	out = ms_run_on_tty(quiet, NULL, NULL, &status);
	assert_true(status == 0 || status == 1);
	assert_null(strstr(out, "loading"));
}

/* Starts F with ARGS; its PID and its arena's address as the CLI takes them. */
static void fixture_target(ms_fixture *f, const char *const *args, char pid[16], char to[32])
{
	assert_int_equal(ms_fixture_start(f, args), 0);
	snprintf(pid, 16, "%s", ms_fixture_pid_str(f));
	snprintf(to, 32, "0x%llx", (unsigned long long)f->arena);
}

/* A live process (a 64 MiB arena): its memory is read with a line against its readable regions' bytes
 * first. */
static void test_pointers_pid_on_tty(void **state)
{
	static const char *const args[] = { "--pages", "16384", NULL };
	ms_fixture f;
	char pid[16], to[32];
	const char *run[] = { "pointers", pid, "--to", to, "--depth", "1", NULL };
	const char *out;
	int status;

	(void)state;
	fixture_target(&f, args, pid, to);
	out = ms_run_on_tty(run, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_drawn(out, "\rmemscan: reading memory ");
	assert_non_null(strstr(out, "\rmemscan: pointer index "));
	assert_non_null(strstr(out, "\rmemscan: pointer search, level 1 of 1 ("));
	ms_fixture_stop(&f);
}

/* Runs ARGV on a terminal, sends SIGINT once NEEDLE shows; its exit status, what the terminal
 * showed (in the runner's buffer) and the milliseconds from the signal to the exit. */
static int interrupt_at(ms_tty *t, const char *const *argv, const char *needle, const char **ret_out,
                        int64_t *ret_ms)
{
	int64_t sent;
	int status;

	ms_tty_start(t, argv);
	assert_true(ms_tty_pump(t, needle, 0, 30000));
	sent = ms_now_ms();
	kill(t->pid, SIGINT);
	status = ms_tty_finish(t, 30000);
	*ret_ms = ms_now_ms() - sent;
	*ret_out = t->out;
	return status;
}

/* Ctrl-C while the index is built, and in the third level of a search of 64 KiB windows (2048
 * holders each, so the whole search takes 15 s or more): exit 130, the phase named, no chains file. */
static void test_pointers_interrupted(void **state)
{
	static ms_tty t;
	struct env *e = *state;
	const char *index[] = { "memscan", "pointers", e->snap, "--to", e->to, "-o", e->chains, NULL };
	const char *deep[] = { "memscan",      "pointers", e->snap, "--to",    e->to, "--depth", "4",
		               "--max-offset", "0x10000",  "--max", "1000000", "-o",  e->chains, NULL };
	const char *out;
	int64_t ms;

	assert_int_equal(interrupt_at(&t, index, "\rmemscan: pointer index ", &out, &ms), 130);
	assert_non_null(strstr(out, "interrupted while indexing the pointers"));
	assert_false(ms_exists(e->chains));
	print_message("index stopped %lld ms after SIGINT\n", (long long)ms);
	assert_int_equal(interrupt_at(&t, deep, ", level 3 of 4 (", &out, &ms), 130);
	assert_non_null(strstr(out, "interrupted while searching pointers"));
	assert_false(ms_exists(e->chains));
	print_message("search stopped %lld ms after SIGINT\n", (long long)ms);
	assert_true(ms < 5000); /* far below the rest of the search: it stopped, it did not finish */
}

/* Writes to PATH a snapshot file of one region of BYTES zeros, through a 1 MiB buffer. */
/* Asks the kernel to drop PATH's pages from its cache (the file was synced at its commit), so that the
 * load reads it from the disk: several times the load's time from the cache, where the test's SIGINT
 * must land (no effect on a tmpfs, where the cached load is the only one). */
static void drop_cached(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

static void write_zero_snapshot(const char *path, uint64_t bytes)
{
	memscan_region g = { .start = DENSE_HEAP,
		             .end = DENSE_HEAP + bytes,
		             .perms = MEMSCAN_PERM_READ,
		             .kind = MEMSCAN_KIND_HEAP,
		             .path = "[heap]" };
	memscan_snapshot_writer *w = NULL;
	uint8_t *zeros = calloc(1, 1u << 20);

	assert_non_null(zeros);
	assert_int_equal(memscan_snapshot_writer_open(path, 1, &w), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_begin_region(w, &g), MEMSCAN_OK);
	for (uint64_t done = 0; done < bytes; done += 1u << 20)
		assert_int_equal(memscan_snapshot_writer_write(w, zeros, 1u << 20), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_end_region(w), MEMSCAN_OK);
	assert_int_equal(memscan_snapshot_writer_commit(w, 1), MEMSCAN_OK);
	memscan_snapshot_writer_free(w);
	free(zeros);
	drop_cached(path);
}

/* Ctrl-C while a 256 MiB snapshot file loads (a few hundred ms of reading and checking): its line
 * against the file's size shows, then exit 130 'interrupted while loading the snapshot', the line
 * cleared, no chains file. */
static void test_pointers_load_interrupted(void **state)
{
	static ms_tty t;
	struct env *e = *state;
	char big[4210];
	const char *run[] = { "memscan", "pointers", big, "--to", e->to, "-o", e->chains, NULL };
	const char *out;
	int64_t ms;

	snprintf(big, sizeof(big), "%s.big", e->snap);
	write_zero_snapshot(big, (uint64_t)256 << 20);
	assert_int_equal(interrupt_at(&t, run, "\rmemscan: loading ", &out, &ms), 130);
	assert_non_null(strstr(out, load_line(big)));
	assert_non_null(strstr(out, "\r\033[Kmemscan: interrupted while loading the snapshot"));
	assert_false(ms_exists(e->chains));
	print_message("load stopped %lld ms after SIGINT\n", (long long)ms);
	assert_true(ms < 5000);
	unlink(big);
}

/* Writes to PATH COUNT chains of one pointer each, read in any process: at the start of its stack. */
static void write_stack_chains(const char *path, size_t count)
{
	memscan_pointer_chains *c = NULL;
	memscan_pointer_chain ch = { .module = "[stack]", .depth = 1 };

	assert_int_equal(memscan_pointer_chains_new(0, &c), MEMSCAN_OK);
	for (size_t i = 0; i < count; i++) {
		ch.offsets[0] = (int64_t)i;
		assert_int_equal(memscan_pointer_chains_add(c, &ch), MEMSCAN_OK);
	}
	assert_int_equal(memscan_pointer_chains_save(c, path), MEMSCAN_OK);
	memscan_pointer_chains_free(c);
}

/* A rescan of 200000 chains in a live process counts the chains followed; Ctrl-C at its first line
 * stops it (exit 130) and leaves the chains file as it was, where it would be rewritten without the
 * chains not followed yet. */
static void test_pointers_rescan_on_tty(void **state)
{
	struct env *e = *state;
	ms_fixture f;
	char pid[16], to[32], kept[4210];
	const char *run[] = { "pointers", pid, "--rescan", e->chains, "--to", to, "-o", kept, NULL };
	const char *stop[] = { "pointers", pid, "--rescan", e->chains, "--to", to, NULL };
	uint8_t *before, *after;
	size_t len_before, len_after;
	const char *out;
	int status;

	fixture_target(&f, NULL, pid, to);
	snprintf(kept, sizeof(kept), "%s.kept", e->chains);
	write_stack_chains(e->chains, 200000);
	out = ms_run_on_tty(run, NULL, NULL, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "\rmemscan: following chains 0 of 200000 (0%)"));
	assert_non_null(strstr(out, "\r\033[Kmemscan: saved 0 chains to "));
	before = ms_file_read(e->chains, &len_before);
	out = ms_run_on_tty(stop, NULL, "\rmemscan: following chains ", &status);
	assert_int_equal(status, 130);
	assert_non_null(strstr(out, "interrupted while following the chains"));
	after = ms_file_read(e->chains, &len_after);
	assert_int_equal(len_after, len_before);
	assert_memory_equal(after, before, len_before);
	free(before);
	free(after);
	unlink(e->chains);
	ms_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointers_file_on_tty),
		cmocka_unit_test(test_resolve_file_on_tty),
		cmocka_unit_test(test_pointers_pid_on_tty),
		cmocka_unit_test(test_pointers_interrupted),
		cmocka_unit_test(test_pointers_load_interrupted),
		cmocka_unit_test(test_pointers_rescan_on_tty),
	};

	alarm(110); /* a hang fails the run instead of stalling it (ctest allows 120 s) */
	return cmocka_run_group_tests(tests, setup, teardown);
}
