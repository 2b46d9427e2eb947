/* SPDX-License-Identifier: MIT */
/* Process handles (PID + start time + pidfd) and the host's process list. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Upper bound on listed processes: Linux's pid_max can be at most 4 Mi. */
#define MS_PROC_LIST_MAX (1u << 22)

/* Reads a small /proc file into BUF (NUL-terminated). Returns bytes read or -errno. */
static ssize_t read_small_file(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

/* The parsed part of /proc/PID/stat that we use. */
struct ms_stat {
	char state;
	int ppid;
	uint64_t start_time;
	char comm[64];
};

/* Parses /proc/PID/stat. comm may contain spaces and parentheses: it ends at the last ')'. */
static int stat_parse(const char *text, struct ms_stat *st)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')'), *p;
	size_t len;
	int field;

	if (!open || !close || close < open)
		return -EINVAL;
	len = (size_t)(close - open - 1);
	if (len >= sizeof(st->comm))
		len = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, len);
	st->comm[len] = '\0';
	p = close + 1;
	/* fields after comm start at number 3 (state); starttime is field 22 */
	for (field = 3; field <= 22; field++) {
		char *end;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -EINVAL;
		if (field == 3)
			st->state = *p;
		else if (field == 4)
			st->ppid = (int)strtol(p, NULL, 10);
		else if (field == 22) {
			errno = 0;
			st->start_time = strtoull(p, &end, 10);
			if (errno || end == p)
				return -EINVAL;
		}
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

static int stat_read(int pid, struct ms_stat *st)
{
	char path[64], buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	return stat_parse(buf, st);
}

/* The thread group (process) of thread ID TID, from /proc/TID/status; -errno if it has none. */
static int thread_group_read(int tid)
{
	char path[64], buf[1024];
	const char *line;
	char *end;
	long tgid;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	n = read_small_file(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	line = strstr(buf, "\nTgid:");
	if (!line)
		return -EINVAL;
	errno = 0;
	tgid = strtol(line + 6, &end, 10);
	if (errno || end == line + 6 || tgid <= 0 || tgid > INT_MAX)
		return -EINVAL;
	return (int)tgid;
}

int memscan_thread_group(int id)
{
	int tgid = id > 0 ? thread_group_read(id) : -EINVAL;

	return tgid > 0 ? tgid : -1;
}

/* A pidfd for PID, which must lead its thread group: the kernel refuses any other thread's ID
 * (EINVAL, or ENOENT on newer kernels); -ENOSYS where the kernel has no pidfd_open. */
static int open_pidfd(int pid)
{
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : (int)fd;
#else
	(void)pid;
	return -ENOSYS;
#endif
}

/* Whether this process may read PID's memory, without keeping a descriptor: the kernel checks
 * ptrace access when /proc/PID/maps is opened (PTRACE_MODE_READ, which CAP_SYS_PTRACE passes). */
static int check_access(int pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? MEMSCAN_ERR_NO_PROCESS : ms_err_from_errno(errno);
	close(fd);
	return MEMSCAN_OK;
}

/* Opens PROC's pidfd for PID and checks access: NO_PROCESS for an ID that is not a thread-group
 * leader (a thread of some process: a handle names a whole process), as /proc confirms too. */
static int proc_attach(memscan_process *proc, int pid)
{
	int fd = open_pidfd(pid);

	if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM)
		return ms_err_from_errno(-fd);
	if (fd < 0 && fd != -ENOSYS)
		return MEMSCAN_ERR_NO_PROCESS;
	proc->pidfd = fd >= 0 ? fd : -1;
	if (thread_group_read(pid) != pid)
		return MEMSCAN_ERR_NO_PROCESS;
	return check_access(pid);
}

int memscan_process_open(int pid, memscan_process **ret_proc)
{
	struct ms_stat st, st2;
	memscan_process *proc;
	int r;

	if (ret_proc)
		*ret_proc = NULL;
	if (!ret_proc || pid <= 0)
		return MEMSCAN_ERR_INVALID_ARG;
	r = stat_read(pid, &st);
	if (r == -ENOENT || r == -ESRCH)
		return MEMSCAN_ERR_NO_PROCESS;
	if (r < 0)
		return r == -EACCES ? MEMSCAN_ERR_PERMISSION : MEMSCAN_ERR_IO;
	if (st.state == 'Z' || st.state == 'X')
		return MEMSCAN_ERR_PROCESS_GONE;
	proc = calloc(1, sizeof(*proc));
	if (!proc)
		return MEMSCAN_ERR_NO_MEMORY;
	proc->lazy = calloc(1, sizeof(*proc->lazy));
	if (!proc->lazy) {
		free(proc);
		return MEMSCAN_ERR_NO_MEMORY;
	}
	proc->pid = pid;
	proc->start_time = st.start_time;
	proc->pidfd = -1;
	atomic_init(&proc->lazy->mem_fd, MS_FD_UNTRIED);
	proc->pagemap_fd = proc->maps_fd = MS_FD_UNTRIED;
	r = proc_attach(proc, pid);
	if (r != MEMSCAN_OK)
		goto fail;
	/* the pidfd was opened after the first stat: make sure it names the same process */
	if (stat_read(pid, &st2) < 0 || st2.start_time != st.start_time) {
		r = MEMSCAN_ERR_PROCESS_GONE;
		goto fail;
	}
	*ret_proc = proc;
	return MEMSCAN_OK;
fail:
	memscan_process_free(proc);
	return r;
}

int ms_process_mem_fd(memscan_process *proc)
{
	char path[64];
	int fd = atomic_load(&proc->lazy->mem_fd), expected = MS_FD_UNTRIED;

	if (fd != MS_FD_UNTRIED)
		return fd;
	snprintf(path, sizeof(path), "/proc/%d/mem", proc->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	/* two workers may race here: the first descriptor stays, the other is closed */
	if (!atomic_compare_exchange_strong(&proc->lazy->mem_fd, &expected, fd)) {
		if (fd >= 0)
			close(fd);
		fd = expected;
	}
	return fd;
}

/* Closes the descriptors opened on demand; they are opened again when next needed. */
static void close_lazy(memscan_process *proc)
{
	int fd = atomic_exchange(&proc->lazy->mem_fd, MS_FD_UNTRIED);

	if (fd >= 0)
		close(fd);
	if (proc->pagemap_fd >= 0)
		close(proc->pagemap_fd);
	if (proc->maps_fd >= 0)
		close(proc->maps_fd);
	proc->pagemap_fd = proc->maps_fd = MS_FD_UNTRIED;
}

void memscan_process_trim(memscan_process *proc)
{
	if (proc && proc->lazy)
		close_lazy(proc);
}

void memscan_process_free(memscan_process *proc)
{
	if (!proc)
		return;
	if (proc->lazy)
		close_lazy(proc);
	if (proc->pidfd >= 0)
		close(proc->pidfd);
	ms_filesrc_free(proc->file);
	ms_progress_free(proc);
	free(proc->lazy);
	free(proc);
}

int memscan_process_pid(const memscan_process *proc)
{
	return proc ? proc->pid : -1;
}

uint64_t memscan_process_start_time(const memscan_process *proc)
{
	return proc ? proc->start_time : 0;
}

int memscan_process_check_alive(const memscan_process *proc)
{
	struct ms_stat st;

	if (!proc)
		return MEMSCAN_ERR_INVALID_ARG;
	if (proc->file)
		return MEMSCAN_OK; /* a snapshot file does not exit (ms_filesrc_read notices a changed file)
		                    */
	if (proc->pidfd >= 0) {
		struct pollfd pfd = { .fd = proc->pidfd, .events = POLLIN };
		int n;

		/* a pidfd becomes readable when its process exits (a zombie counts as exited); a signal
		 * caught meanwhile (EINTR) says nothing about the process: poll again */
		do
			n = poll(&pfd, 1, 0);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			return MEMSCAN_ERR_PROCESS_GONE;
		if (n == 0)
			return MEMSCAN_OK;
		/* poll itself failed: ask /proc instead */
	}
	if (stat_read(proc->pid, &st) < 0 || st.start_time != proc->start_time || st.state == 'Z' ||
	    st.state == 'X')
		return MEMSCAN_ERR_PROCESS_GONE;
	return MEMSCAN_OK;
}

int memscan_process_set_read_method(memscan_process *proc, memscan_read_method method)
{
	if (!proc || (method != MEMSCAN_READ_AUTO && method != MEMSCAN_READ_VM_READV &&
	              method != MEMSCAN_READ_PROC_MEM))
		return MEMSCAN_ERR_INVALID_ARG;
	proc->method = method;
	proc->readv_refused = 0;
	return MEMSCAN_OK;
}

int memscan_process_set_skip_absent(memscan_process *proc, bool skip)
{
	if (!proc)
		return MEMSCAN_ERR_INVALID_ARG;
	proc->keep_absent = !skip;
	return MEMSCAN_OK;
}

int memscan_process_set_cancel(memscan_process *proc, memscan_cancel_fn fn, void *ctx)
{
	if (!proc)
		return MEMSCAN_ERR_INVALID_ARG;
	proc->cancel_fn = fn;
	proc->cancel_ctx = fn ? ctx : NULL;
	return MEMSCAN_OK;
}

/* Fills INFO for PID; -errno if the process vanished meanwhile. */
static int proc_info_read(int pid, memscan_proc_info *info)
{
	char path[64], buf[1024];
	struct ms_stat st;
	struct stat sb;
	ssize_t n;
	unsigned long long size_pages, rss_pages;
	int r;

	memset(info, 0, sizeof(*info));
	r = stat_read(pid, &st);
	if (r < 0)
		return r;
	info->pid = pid;
	info->ppid = st.ppid;
	snprintf(info->name, sizeof(info->name), "%s", st.comm);
	snprintf(path, sizeof(path), "/proc/%d", pid);
	if (stat(path, &sb) == 0)
		info->uid = sb.st_uid;
	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	if (read_small_file(path, buf, sizeof(buf)) > 0 &&
	    sscanf(buf, "%llu %llu", &size_pages, &rss_pages) == 2)
		info->rss_bytes = (uint64_t)rss_pages * memscan_page_size();
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_small_file(path, info->cmdline, sizeof(info->cmdline));
	if (n > 0) {
		/* arguments are NUL-separated; the last one ends with a NUL */
		for (ssize_t i = 0; i < n; i++)
			if (info->cmdline[i] == '\0')
				info->cmdline[i] = ' ';
		while (n > 0 && info->cmdline[n - 1] == ' ')
			info->cmdline[--n] = '\0';
	}
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	const memscan_proc_info *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

bool memscan_holds_cap_ptrace(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return geteuid() == 0;
	return (data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective & CAP_TO_MASK(CAP_SYS_PTRACE)) != 0;
}

int memscan_process_list(memscan_proc_info **ret_list, size_t *ret_count)
{
	memscan_proc_info *list = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *dir;

	if (ret_list)
		*ret_list = NULL;
	if (ret_count)
		*ret_count = 0;
	if (!ret_list || !ret_count)
		return MEMSCAN_ERR_INVALID_ARG;
	dir = opendir("/proc");
	if (!dir)
		return MEMSCAN_ERR_IO;
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0 || pid > 0x7fffffff)
			continue;
		if (count == cap) {
			int r = ms_grow(&list, &cap, count + 1, sizeof(*list), MS_PROC_LIST_MAX);

			if (r == MEMSCAN_ERR_LIMIT)
				break; /* the list stops at its maximum */
			if (r != MEMSCAN_OK) {
				free(list);
				closedir(dir);
				return MEMSCAN_ERR_NO_MEMORY;
			}
		}
		if (proc_info_read((int)pid, &list[count]) == 0)
			count++;
	}
	closedir(dir);
	qsort(list, count, sizeof(*list), cmp_pid);
	*ret_list = list;
	*ret_count = count;
	return MEMSCAN_OK;
}
