/* SPDX-License-Identifier: MIT */
/* Output of the memscan CLI: error messages, JSON strings, hexdumps, regions, diffs. */
#include "output.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"

#define HEXDUMP_WIDTH     16
#define RUN_INLINE_MAX    16 /* runs up to this many bytes print on one line */
#define CHANGES_PER_BATCH 4096

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fputs("memscan: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Yama's setting, or -1 where the kernel has no Yama. */
static int yama_ptrace_scope(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

void cli_permission_err(int pid)
{
	int scope = yama_ptrace_scope();
	char yama[160] = "";

	if (scope >= 0)
		snprintf(yama, sizeof(yama), "; Yama's /proc/sys/kernel/yama/ptrace_scope is %d%s", scope,
		         scope >= 3 ? " (3: nobody may read another process, not even root)" : "");
	if (memscan_holds_cap_ptrace())
		cli_err("permission denied reading PID %d, although memscan holds CAP_SYS_PTRACE: a "
		        "security policy refuses it (seccomp, an LSM such as SELinux or AppArmor, or "
		        "lockdown)%s",
		        pid, yama);
	else
		cli_err("permission denied reading PID %d: reading another user's process needs "
		        "CAP_SYS_PTRACE (run memscan as root, as PID %d's user, or grant the capability, "
		        "e.g. setpriv --ambient-caps +sys_ptrace)%s",
		        pid, pid, yama);
}

int cli_lib_err(int err, int pid, const char *what)
{
	switch (err) {
	case MEMSCAN_ERR_NO_PROCESS:
		cli_err("no process with PID %d (list processes with 'memscan ps')", pid);
		return CLI_FAIL;
	case MEMSCAN_ERR_PERMISSION:
		cli_permission_err(pid);
		return CLI_FAIL;
	case MEMSCAN_ERR_PROCESS_GONE:
		cli_err("PID %d exited while %s", pid, what);
		return CLI_FAIL;
	case MEMSCAN_ERR_CANCELLED:
		cli_err("interrupted while %s", what);
		return CLI_FAIL;
	case MEMSCAN_ERR_INVALID_ARG:
	case MEMSCAN_ERR_BAD_PATTERN:
		cli_err("%s: %s", what, memscan_strerror(err));
		return CLI_USAGE;
	default:
		if (pid > 0)
			cli_err("%s of PID %d failed: %s", what, pid, memscan_strerror(err));
		else
			cli_err("%s failed: %s", what, memscan_strerror(err));
		return CLI_FAIL;
	}
}

/* Length of the valid UTF-8 sequence at S (at most LEFT bytes), or 0 if it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
	if (left < n)
		return 0;
	cp = s[0] & (0x7F >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static void json_escape_byte(FILE *out, unsigned char c)
{
	switch (c) {
	case '"':
		fputs("\\\"", out);
		break;
	case '\\':
		fputs("\\\\", out);
		break;
	case '\n':
		fputs("\\n", out);
		break;
	case '\r':
		fputs("\\r", out);
		break;
	case '\t':
		fputs("\\t", out);
		break;
	default:
		fprintf(out, "\\u%04x", c);
		break;
	}
}

void out_json_strn(FILE *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', out);
	while (i < len) {
		size_t n;

		if (p[i] >= 0x20 && p[i] < 0x7F && p[i] != '"' && p[i] != '\\') {
			fputc(p[i++], out);
			continue;
		}
		n = p[i] >= 0x80 ? utf8_len(p + i, len - i) : 0;
		if (n == 2 && p[i] == 0xC2 && p[i + 1] < 0xA0) { /* a C1 control (CSI is C2 9B): escaped */
			fprintf(out, "\\u%04x", p[i + 1]);
			i += n;
			continue;
		}
		if (n) {
			fwrite(p + i, 1, n, out);
			i += n;
			continue;
		}
		json_escape_byte(out, p[i++]);
	}
	fputc('"', out);
}

void out_json_str(FILE *out, const char *s)
{
	out_json_strn(out, s, strlen(s));
}

void out_hex(FILE *out, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		fputc(digits[data[i] >> 4], out);
		fputc(digits[data[i] & 15], out);
	}
}

/* Bytes of S at P that print as themselves on a terminal: a printable ASCII character, or a whole
 * UTF-8 sequence that is not a C1 control; 0 for a byte that must be escaped. */
static size_t text_printable(const unsigned char *p, size_t left)
{
	size_t n;

	if (*p >= 0x20 && *p < 0x7F)
		return 1;
	if (*p < 0x80)
		return 0;
	n = utf8_len(p, left);
	return n == 2 && p[0] == 0xC2 && p[1] < 0xA0 ? 0 : n;
}

void out_text_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left) {
		size_t n = *p == '\\' ? 0 : text_printable(p, left);

		if (*p == '\\')
			fputs("\\\\", out);
		else if (!n)
			fprintf(out, "\\x%02x", *p);
		else
			fwrite(p, 1, n, out);
		n = n ? n : 1;
		p += n;
		left -= n;
	}
}

size_t out_text_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), w = 0;

	while (left) {
		size_t n = *p == '\\' ? 0 : text_printable(p, left);

		w += *p == '\\' ? 2 : n ? 1 : 4;
		n = n ? n : 1;
		p += n;
		left -= n;
	}
	return w;
}

static void hexdump_line(FILE *out, uint64_t addr, const uint8_t *data, size_t n, const memscan_ranges *holes)
{
	char ascii[HEXDUMP_WIDTH + 1];
	size_t i;

	fprintf(out, "0x%016llx:", (unsigned long long)addr);
	for (i = 0; i < HEXDUMP_WIDTH; i++) {
		int hole = i < n && memscan_ranges_contains(holes, addr + i);

		if (i % 2 == 0)
			fputc(' ', out);
		if (i >= n)
			fputs("  ", out);
		else if (hole)
			fputs("??", out);
		else
			fprintf(out, "%02x", data[i]);
		if (i < n)
			ascii[i] = hole ? '?' : (data[i] >= 0x20 && data[i] < 0x7F) ? (char)data[i] : '.';
	}
	ascii[n] = '\0';
	fprintf(out, "  %s\n", ascii);
}

void out_hexdump(FILE *out, uint64_t addr, const uint8_t *data, size_t len, const memscan_ranges *holes)
{
	size_t off;

	for (off = 0; off < len; off += HEXDUMP_WIDTH) {
		size_t n = len - off < HEXDUMP_WIDTH ? len - off : HEXDUMP_WIDTH;

		hexdump_line(out, addr + off, data + off, n, holes);
	}
}

const char *out_size(uint64_t bytes, char *buf)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes / 1024;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, OUT_SIZE_LEN, "%llu B", (unsigned long long)bytes);
		return buf;
	}
	/* the unit is chosen after rounding: 1048575 B is "1.0 MiB", not "1024 KiB" */
	for (;;) {
		double tenths = (double)(uint64_t)(v * 10 + 0.5) / 10, whole = (double)(uint64_t)(v + 0.5);
		int decimal = tenths < 10;

		if ((decimal ? tenths : whole) >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
			v /= 1024;
			u++;
			continue;
		}
		snprintf(buf, OUT_SIZE_LEN, decimal ? "%.1f %s" : "%.0f %s", decimal ? tenths : whole,
		         units[u]);
		return buf;
	}
}

/* Columns: the range as /proc/PID/maps writes it (12 hex digits for most user addresses), then
 * fixed widths. */
#define REGION_RANGE_WIDTH 25

void out_region_header(FILE *out)
{
	fprintf(out, "%-*s %-4s %-8s %-5s %-10s %8s %-7s %s\n", REGION_RANGE_WIDTH, "START-END", "PERM",
	        "OFFSET", "DEV", "INODE", "SIZE", "KIND", "PATH");
}

void out_region_text(FILE *out, const memscan_region *r)
{
	char perms[5], range[48], size[OUT_SIZE_LEN];

	memscan_perms_format(r->perms, perms);
	snprintf(range, sizeof(range), "%08llx-%08llx", (unsigned long long)r->start,
	         (unsigned long long)r->end);
	fprintf(out, "%-*s %s %08llx %02x:%02x %-10llu %8s %-7s ", REGION_RANGE_WIDTH, range, perms,
	        (unsigned long long)r->offset, r->dev_major, r->dev_minor, (unsigned long long)r->inode,
	        out_size(r->end - r->start, size), memscan_kind_name(r->kind));
	out_text_str(out, r->path);
	fputs(r->deleted ? " (deleted)\n" : "\n", out);
}

void out_region_json(FILE *out, const memscan_region *r)
{
	char perms[5], dev[32];

	memscan_perms_format(r->perms, perms);
	snprintf(dev, sizeof(dev), "%02x:%02x", r->dev_major, r->dev_minor);
	fprintf(out, "{\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"perms\":\"%s\",\"offset\":%llu,\"path\":",
	        (unsigned long long)r->start, (unsigned long long)r->end, perms,
	        (unsigned long long)r->offset);
	out_json_str(out, r->path);
	fprintf(out, ",\"kind\":\"%s\",\"size\":%llu,\"inode\":%llu,\"dev\":\"%s\",\"deleted\":%s}\n",
	        memscan_kind_name(r->kind), (unsigned long long)(r->end - r->start),
	        (unsigned long long)r->inode, dev, r->deleted ? "true" : "false");
}

static void json_time_field(FILE *out, const char *time)
{
	if (time)
		fprintf(out, "\"time\":\"%s\",", time);
}

static void hex_spaced(FILE *out, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		fprintf(out, i ? " %02x" : "%02x", data[i]);
}

/* A long run: a header line, then old/new lines of RUN_INLINE_MAX bytes each, at offsets. */
static void run_text_long(FILE *out, const memscan_change_run *run)
{
	size_t off;

	fprintf(out, "0x%llx  %zu bytes\n", (unsigned long long)run->address, run->length);
	for (off = 0; off < run->length; off += RUN_INLINE_MAX) {
		size_t n = run->length - off < RUN_INLINE_MAX ? run->length - off : RUN_INLINE_MAX;

		fprintf(out, "  +0x%06zx  old: ", off);
		hex_spaced(out, run->old_bytes + off, n);
		fputs("\n             new: ", out);
		hex_spaced(out, run->new_bytes + off, n);
		fputc('\n', out);
	}
}

static void run_print(FILE *out, const memscan_change_run *run, int json, const char *time)
{
	if (json) {
		fputc('{', out);
		json_time_field(out, time);
		fprintf(out, "\"address\":\"0x%llx\",\"old\":\"", (unsigned long long)run->address);
		out_hex(out, run->old_bytes, run->length);
		fputs("\",\"new\":\"", out);
		out_hex(out, run->new_bytes, run->length);
		fputs("\"}\n", out);
	} else if (run->length > RUN_INLINE_MAX) {
		run_text_long(out, run);
	} else {
		fprintf(out, "0x%llx  %zu byte%s  old: ", (unsigned long long)run->address, run->length,
		        run->length == 1 ? "" : "s");
		hex_spaced(out, run->old_bytes, run->length);
		fputs("  new: ", out);
		hex_spaced(out, run->new_bytes, run->length);
		fputc('\n', out);
	}
}

static void change_print(FILE *out, const memscan_change *c, int json, const char *time)
{
	if (json) {
		fputc('{', out);
		json_time_field(out, time);
		fprintf(out, "\"address\":\"0x%llx\",\"old\":\"%02x\",\"new\":\"%02x\"}\n",
		        (unsigned long long)c->address, c->old_value, c->new_value);
	} else {
		fprintf(out, "0x%llx  %02x -> %02x\n", (unsigned long long)c->address, c->old_value,
		        c->new_value);
	}
}

static void bytes_print(FILE *out, const memscan_diff *diff, int json, const char *time)
{
	memscan_change batch[CHANGES_PER_BATCH];
	uint64_t first = 0;
	size_t n, i;

	while ((n = memscan_diff_changes(diff, first, batch, CHANGES_PER_BATCH)) > 0) {
		for (i = 0; i < n; i++)
			change_print(out, &batch[i], json, time);
		first += n;
	}
}

static void ranges_print(FILE *out, const memscan_ranges *ranges, const char *what, int json,
                         const char *time)
{
	size_t i;

	for (i = 0; ranges && i < ranges->count; i++) {
		unsigned long long s = ranges->items[i].start, e = ranges->items[i].end;

		if (json) {
			fputc('{', out);
			json_time_field(out, time);
			fprintf(out, "\"%s\":{\"start\":\"0x%llx\",\"end\":\"0x%llx\"}}\n", what, s, e);
		} else {
			fprintf(out, "%c 0x%llx-0x%llx %s\n", what[0] == 'a' ? '+' : '-', s, e, what);
		}
	}
}

/* Ranges only one snapshot holds because the other's filter did not select them (IN_NEW: the new
 * snapshot's, outside the old one's selection). */
static void outside_print(FILE *out, const memscan_ranges *ranges, int in_new, int json, const char *time)
{
	for (size_t i = 0; ranges && i < ranges->count; i++) {
		unsigned long long s = ranges->items[i].start, e = ranges->items[i].end;

		if (json) {
			fputc('{', out);
			json_time_field(out, time);
			fprintf(out,
			        "\"outside_selection\":{\"start\":\"0x%llx\",\"end\":\"0x%llx\",\"only_in\":"
			        "\"%s\"}}\n",
			        s, e, in_new ? "new" : "old");
		} else {
			fprintf(out,
			        "= 0x%llx-0x%llx only in the %s snapshot: outside the %s one's selection\n",
			        s, e, in_new ? "new" : "old", in_new ? "old" : "new");
		}
	}
}

void out_diff(FILE *out, const memscan_diff *diff, int json, int bytes, const char *time)
{
	size_t i, n = memscan_diff_run_count(diff);

	if (bytes) {
		bytes_print(out, diff, json, time);
	} else {
		for (i = 0; i < n; i++) {
			memscan_change_run run = memscan_diff_run(diff, i);

			run_print(out, &run, json, time);
		}
	}
	ranges_print(out, memscan_diff_appeared(diff), "appeared", json, time);
	ranges_print(out, memscan_diff_vanished(diff), "vanished", json, time);
	outside_print(out, memscan_diff_outside(diff, 1), 1, json, time);
	outside_print(out, memscan_diff_outside(diff, 0), 0, json, time);
}

void out_diff_summary_counts(FILE *out, size_t runs, uint64_t changed, size_t appeared, size_t vanished,
                             size_t outside, const char *time)
{
	fputs("#", out);
	if (time)
		fprintf(out, " %s ", time);
	fprintf(out, " %zu runs, %llu bytes changed", runs, (unsigned long long)changed);
	if (appeared)
		fprintf(out, ", %zu appeared", appeared);
	if (vanished)
		fprintf(out, ", %zu vanished", vanished);
	if (outside)
		fprintf(out, ", %zu outside the other's selection", outside);
	fputc('\n', out);
}

void out_diff_summary(FILE *out, const memscan_diff *diff, const char *time)
{
	const memscan_ranges *app = memscan_diff_appeared(diff), *van = memscan_diff_vanished(diff);

	const memscan_ranges *o1 = memscan_diff_outside(diff, 1), *o0 = memscan_diff_outside(diff, 0);

	out_diff_summary_counts(out, memscan_diff_run_count(diff), memscan_diff_changed_bytes(diff),
	                        app ? app->count : 0, van ? van->count : 0,
	                        (o1 ? o1->count : 0) + (o0 ? o0->count : 0), time);
}

void out_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* A snapshot-file error ERR, naming the file at fault and what is wrong with it. */
int cli_snapfile_err(int err, const char *what)
{
	const char *detail = NULL, *path = memscan_snapshot_file_error(&detail);

	if (!path)
		return cli_lib_err(err, 0, what);
	switch (err) {
	case MEMSCAN_ERR_IO:
		cli_err("cannot read snapshot '%s': %s", path, detail);
		break;
	case MEMSCAN_ERR_TRUNCATED:
		cli_err("snapshot '%s' is truncated: %s; take it again with 'memscan snapshot'", path,
		        detail);
		break;
	case MEMSCAN_ERR_BAD_FORMAT:
		cli_err("cannot use snapshot '%s': %s", path, detail);
		break;
	case MEMSCAN_ERR_UNSUPPORTED_VERSION:
		cli_err("snapshot '%s' cannot be read by this memscan: %s", path, detail);
		break;
	default:
		cli_err("cannot load snapshot '%s': %s (%s)", path, detail, memscan_strerror(err));
		break;
	}
	return CLI_FAIL;
}
