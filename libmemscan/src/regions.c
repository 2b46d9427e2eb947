/* SPDX-License-Identifier: MIT */
/* Memory regions: /proc/PID/maps parsing, classification, filters and region lists. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A maps file larger than this is refused (a process has at most vm.max_map_count, 65530 by
 * default, lines of at most ~4 KiB each). */
#define MS_MAPS_MAX (512u << 20)
/* The maps text is read into a stack buffer of this size first (a small process needs 2-10 KiB). */
#define MS_MAPS_STACK (16u << 10)

static const char DELETED_SUFFIX[] = " (deleted)";

void memscan_filter_default(memscan_filter *filter)
{
	if (!filter)
		return;
	memset(filter, 0, sizeof(*filter));
	filter->perms = MEMSCAN_PERM_READ;
	/* [vvar] and [vsyscall] cannot be read by another process; [vdso] is the kernel's code */
	filter->kinds = MEMSCAN_KIND_ANON | MEMSCAN_KIND_HEAP | MEMSCAN_KIND_STACK | MEMSCAN_KIND_FILE;
}

uint32_t ms_region_kind_of(const char *path)
{
	if (path[0] == '\0' || strncmp(path, "[anon:", 6) == 0 || strncmp(path, "[anon_shmem:", 12) == 0)
		return MEMSCAN_KIND_ANON;
	if (strcmp(path, "[heap]") == 0)
		return MEMSCAN_KIND_HEAP;
	if (strcmp(path, "[stack]") == 0 || strncmp(path, "[stack:", 7) == 0)
		return MEMSCAN_KIND_STACK;
	if (path[0] == '[')
		return MEMSCAN_KIND_SPECIAL;
	return MEMSCAN_KIND_FILE;
}

/* 1 + the value of each hex digit character, 0 for any other: one lookup instead of three range tests
 * per digit (the agent parses every line of a maps file per request). */
static const uint8_t hex_value[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
	['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Parses a hex number of 1 to 16 digits ending at STOP; advances *P past STOP. */
static int parse_hex(const char **p, const char *end, char stop, uint64_t *ret)
{
	const char *s = *p, *limit = end - s > 17 ? s + 17 : end;
	uint64_t v = 0;

	while (s < limit && hex_value[(unsigned char)*s])
		v = (v << 4) | (uint64_t)(hex_value[(unsigned char)*s++] - 1);
	if (s == *p || s - *p > 16 || s >= end || *s != stop)
		return -1;
	*p = s + 1;
	*ret = v;
	return 0;
}

static int parse_dec(const char **p, const char *end, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	while (s < end && *s >= '0' && *s <= '9') {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10) /* exactly when v * 10 + d would not fit */
			return -1;
		v = v * 10 + d;
		s++;
	}
	*p = s;
	*ret = v;
	return 0;
}

static int parse_perms(const char **p, const char *end, uint32_t *ret)
{
	const char *s = *p;
	uint32_t perms = 0;

	if (end - s < 5 || s[4] != ' ')
		return -1;
	if (s[0] == 'r')
		perms |= MEMSCAN_PERM_READ;
	else if (s[0] != '-')
		return -1;
	if (s[1] == 'w')
		perms |= MEMSCAN_PERM_WRITE;
	else if (s[1] != '-')
		return -1;
	if (s[2] == 'x')
		perms |= MEMSCAN_PERM_EXEC;
	else if (s[2] != '-')
		return -1;
	if (s[3] == 's')
		perms |= MEMSCAN_PERM_SHARED;
	else if (s[3] != 'p')
		return -1;
	*p = s + 5;
	*ret = perms;
	return 0;
}

int memscan_maps_parse_line(const char *line, size_t len, memscan_region *region, char *pathbuf,
                            size_t pathbuf_size)
{
	const char *p = line, *end = line + len;
	uint64_t major, minor;
	memscan_region r;
	size_t plen;

	if (!line || !region || !pathbuf || pathbuf_size == 0)
		return MEMSCAN_ERR_INVALID_ARG;
	memset(&r, 0, sizeof(r));
	if (parse_hex(&p, end, '-', &r.start) || parse_hex(&p, end, ' ', &r.end) || r.end <= r.start ||
	    parse_perms(&p, end, &r.perms) || parse_hex(&p, end, ' ', &r.offset) ||
	    parse_hex(&p, end, ':', &major) || parse_hex(&p, end, ' ', &minor) || major > UINT32_MAX ||
	    minor > UINT32_MAX || parse_dec(&p, end, &r.inode))
		return MEMSCAN_ERR_BAD_FORMAT;
	r.dev_major = (uint32_t)major;
	r.dev_minor = (uint32_t)minor;
	if (p < end && *p != ' ')
		return MEMSCAN_ERR_BAD_FORMAT;
	while (p < end && *p == ' ')
		p++;
	plen = (size_t)(end - p);
	if (memchr(p, '\0', plen))
		return MEMSCAN_ERR_BAD_FORMAT;
	if (plen >= sizeof(DELETED_SUFFIX) - 1 &&
	    memcmp(end - (sizeof(DELETED_SUFFIX) - 1), DELETED_SUFFIX, sizeof(DELETED_SUFFIX) - 1) == 0) {
		r.deleted = 1;
		plen -= sizeof(DELETED_SUFFIX) - 1;
	}
	if (plen >= pathbuf_size || plen >= MS_PATH_MAX)
		return MEMSCAN_ERR_LIMIT;
	memcpy(pathbuf, p, plen);
	pathbuf[plen] = '\0';
	r.path = pathbuf;
	r.kind = ms_region_kind_of(pathbuf);
	*region = r;
	return MEMSCAN_OK;
}

int memscan_regions_parse(const char *text, size_t len, const memscan_filter *filter,
                          memscan_region_list **ret_list)
{
	memscan_region_list *list = NULL;
	const char *p = text, *end = text + len;
	char *pathbuf;
	int r;

	if (ret_list)
		*ret_list = NULL;
	if (!text || !ret_list)
		return MEMSCAN_ERR_INVALID_ARG;
	pathbuf = malloc(MS_PATH_MAX);
	if (!pathbuf)
		return MEMSCAN_ERR_NO_MEMORY;
	r = memscan_region_list_new(&list);
	while (r == MEMSCAN_OK && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = nl ? nl : end;
		memscan_region region;

		if (line_end > p) {
			r = memscan_maps_parse_line(p, (size_t)(line_end - p), &region, pathbuf, MS_PATH_MAX);
			if (r == MEMSCAN_OK && memscan_filter_match(filter, &region) &&
			    ms_filter_clip(filter, &region) == 0)
				r = memscan_region_list_add(list, &region);
		}
		p = nl ? nl + 1 : end;
	}
	free(pathbuf);
	if (r != MEMSCAN_OK) {
		memscan_region_list_free(list);
		return r;
	}
	*ret_list = list;
	return MEMSCAN_OK;
}

/* Reads all of FD, LIMIT once it reaches MAX bytes. The text stays in STACK_BUF (STACK_LEN bytes) if
 * it fits, else it moves to a growing heap buffer, returned in *RET_HEAP for the caller to free. */
static int read_all(int fd, size_t max, char *stack_buf, size_t stack_len, char **ret_buf, size_t *ret_len,
                    char **ret_heap)
{
	size_t len = 0, cap = stack_len;
	char *buf = stack_buf, *heap = NULL;
	ssize_t n;

	for (;;) {
		if (len >= max) {
			free(heap);
			return MEMSCAN_ERR_LIMIT;
		}
		if (len == cap) {
			size_t heap_cap = heap ? cap : 0;
			int r = ms_grow(&heap, &heap_cap, cap + 1, 1, MS_MAPS_MAX);

			if (r != 0) {
				free(heap);
				return r;
			}
			if (buf == stack_buf)
				memcpy(heap, stack_buf, len);
			buf = heap;
			cap = heap_cap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(heap);
			return e == ESRCH || e == ENOENT ? MEMSCAN_ERR_PROCESS_GONE : ms_err_from_errno(e);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_buf = buf;
	*ret_len = len;
	*ret_heap = heap;
	return MEMSCAN_OK;
}

int memscan_regions_read(memscan_process *proc, const memscan_filter *filter, memscan_region_list **ret_list)
{
	return memscan_regions_read_max(proc, filter, MS_MAPS_MAX, ret_list);
}

int memscan_regions_read_max(memscan_process *proc, const memscan_filter *filter, size_t max_text,
                             memscan_region_list **ret_list)
{
	/* a small process's maps fit here: no heap buffer per listing */
	char stack_buf[MS_MAPS_STACK], path[64], *text = NULL, *heap = NULL;
	size_t len = 0;
	int fd, r;

	if (ret_list)
		*ret_list = NULL;
	if (!proc || !ret_list)
		return MEMSCAN_ERR_INVALID_ARG;
	if (proc->file)
		return ms_filesrc_regions(proc, filter, ret_list);
	snprintf(path, sizeof(path), "/proc/%d/maps", proc->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? MEMSCAN_ERR_PROCESS_GONE
		                                         : ms_err_from_errno(errno);
	r = read_all(fd, max_text, stack_buf, sizeof(stack_buf), &text, &len, &heap);
	close(fd);
	if (r != MEMSCAN_OK)
		return r;
	/* the maps we read must be those of the process we opened, not of a PID reuser */
	r = memscan_process_check_alive(proc);
	if (r == MEMSCAN_OK)
		r = memscan_regions_parse(text, len, filter, ret_list);
	free(heap);
	return r;
}

void memscan_perms_format(uint32_t perms, char out[5])
{
	out[0] = perms & MEMSCAN_PERM_READ ? 'r' : '-';
	out[1] = perms & MEMSCAN_PERM_WRITE ? 'w' : '-';
	out[2] = perms & MEMSCAN_PERM_EXEC ? 'x' : '-';
	out[3] = perms & MEMSCAN_PERM_SHARED ? 's' : 'p';
	out[4] = '\0';
}

int memscan_perms_parse(const char *text, uint32_t *ret_perms)
{
	uint32_t perms = 0;

	if (!text || !ret_perms || !*text)
		return MEMSCAN_ERR_INVALID_ARG;
	for (const char *p = text; *p; p++) {
		switch (*p) {
		case 'r':
			perms |= MEMSCAN_PERM_READ;
			break;
		case 'w':
			perms |= MEMSCAN_PERM_WRITE;
			break;
		case 'x':
			perms |= MEMSCAN_PERM_EXEC;
			break;
		case 's':
			perms |= MEMSCAN_PERM_SHARED;
			break;
		case '-':
		case 'p':
			break;
		default:
			return MEMSCAN_ERR_INVALID_ARG;
		}
	}
	*ret_perms = perms;
	return MEMSCAN_OK;
}

static const struct {
	const char *name;
	uint32_t kind;
} kind_names[] = {
	{ "anon", MEMSCAN_KIND_ANON }, { "heap", MEMSCAN_KIND_HEAP },       { "stack", MEMSCAN_KIND_STACK },
	{ "file", MEMSCAN_KIND_FILE }, { "special", MEMSCAN_KIND_SPECIAL },
};

const char *memscan_kind_name(uint32_t kind)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (kind_names[i].kind == kind)
			return kind_names[i].name;
	return "unknown";
}

int memscan_kind_parse(const char *text, uint32_t *ret_kind)
{
	if (!text || !ret_kind)
		return MEMSCAN_ERR_INVALID_ARG;
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(kind_names[i].name, text) == 0) {
			*ret_kind = kind_names[i].kind;
			return MEMSCAN_OK;
		}
	}
	return MEMSCAN_ERR_INVALID_ARG;
}
