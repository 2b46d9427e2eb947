/* SPDX-License-Identifier: MIT */
/* Which processes a request may touch: never the agent, only whole processes, within the key's
 * limits (uids=, exe=), checked when a process is opened and again at every operation on it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* Reads the real, effective, saved and filesystem uids of PID from /proc/PID/status. One open and read
 * into a stack buffer, no stdio: this runs per request for keys limited to uids, and the Uid: line is
 * within the file's first lines (the one field above it that varies, Name, is escaped and short). */
static int agent_pid_uids(int pid, uint32_t uids[4])
{
	char path[64], buf[2048];
	unsigned long long v[4];
	const char *line;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	line = strstr(buf, "\nUid:");
	if (!line || sscanf(line + 5, "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]) != 4)
		return -1;
	for (int i = 0; i < 4; i++)
		uids[i] = (uint32_t)v[i];
	return 0;
}

/* Whether the uids of PID (all four) lie in S's uid range: 1 yes, 0 no (*RET_UID: the first outside),
 * -1 if they cannot be read (the process is gone). */
static int agent_uids_allowed(const agent_session *s, int pid, uint32_t *ret_uid)
{
	uint32_t uids[4];

	if (s->uid_min > s->uid_max)
		return 1; /* any uid */
	if (agent_pid_uids(pid, uids) != 0)
		return -1;
	for (int i = 0; i < 4; i++)
		if (uids[i] < s->uid_min || uids[i] > s->uid_max) {
			*ret_uid = uids[i];
			return 0;
		}
	return 1;
}

/* Whether the executable of PID matches S's exe= patterns: 1 yes, 0 no, -1 if the agent cannot name
 * it (a kernel thread, or the process is gone); its path into EXE (LEN bytes). */
static int agent_exe_allowed(const agent_session *s, int pid, char *exe, size_t len)
{
	char path[64];
	ssize_t n;

	if (!s->exe[0])
		return 1; /* any executable */
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, len - 1);
	if (n <= 0 || (size_t)n >= len - 1)
		return -1;
	exe[n] = '\0';
	return keyfile_exe_allowed(s->exe, exe);
}

int agent_target_visible(const agent_session *s, int pid)
{
	char exe[PATH_MAX];
	uint32_t uid;

	return agent_uids_allowed(s, pid, &uid) == 1 && agent_exe_allowed(s, pid, exe, sizeof(exe)) == 1;
}

/* DENIED unless every uid of the (open) process lies in the key's uid range. */
static int agent_check_uid(agent_req *r, memscan_process *proc)
{
	agent_session *s = r->s;
	int pid = memscan_process_pid(proc);
	uint32_t uid = 0;
	int ok = agent_uids_allowed(s, pid, &uid);

	if (ok < 0 || memscan_process_check_alive(proc) != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d exited", pid);
	if (!ok)
		return agent_fail(r, MEMSCAN_ERR_DENIED,
		                  "process %d runs as uid %u, outside this key's uids=%u-%u", pid, uid,
		                  s->uid_min, s->uid_max);
	return MEMSCAN_OK;
}

/* DENIED unless the (open) process's executable matches the key's exe= patterns. The link is read
 * after the process was opened and checked alive after: a process that execs meanwhile is caught
 * by the next operation's check, and reads made before it are of the process this check saw. The
 * path is the one the process sees (its mount namespace): docs/security.md says what that means for
 * containers. */
static int agent_check_exe(agent_req *r, memscan_process *proc)
{
	agent_session *s = r->s;
	char exe[PATH_MAX];
	int pid = memscan_process_pid(proc);
	int ok = agent_exe_allowed(s, pid, exe, sizeof(exe));

	if (memscan_process_check_alive(proc) != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d exited", pid);
	if (ok < 0)
		return agent_fail(r, MEMSCAN_ERR_DENIED,
		                  "process %d has no executable this agent can name (a kernel thread, or "
		                  "/proc/%d/exe unreadable): this key is limited to exe=%s",
		                  pid, pid, s->exe);
	if (!ok)
		return agent_fail(r, MEMSCAN_ERR_DENIED, "process %d runs %s, outside this key's exe=%s", pid,
		                  exe, s->exe);
	return MEMSCAN_OK;
}

int agent_target_recheck(agent_req *r, memscan_process *proc)
{
	int pid = memscan_process_pid(proc);
	int err = memscan_process_check_alive(proc);

	r->pid = pid;
	if (err != MEMSCAN_OK)
		return agent_fail(r, MEMSCAN_ERR_PROCESS_GONE, "process %d exited", pid);
	err = agent_check_uid(r, proc);
	if (err == MEMSCAN_OK)
		err = agent_check_exe(r, proc);
	return err;
}

/* The checks on an open process PROC for TARGET T: the key's limits, and the same process as T's
 * start time names. */
static int agent_check_target(agent_req *r, const Memscan__V1__Target *t, memscan_process *proc)
{
	int err = agent_target_recheck(r, proc);

	if (err == MEMSCAN_OK && t->start_time && t->start_time != memscan_process_start_time(proc))
		err =
		    agent_fail(r, MEMSCAN_ERR_PROCESS_GONE,
		               "process %d is not the one started at %llu: it exited and the PID was reused",
		               memscan_process_pid(proc), (unsigned long long)t->start_time);
	return err;
}

/* Refuses PID unless it names a whole process other than the agent: none of the agent's thread IDs
 * (its memory holds its private key, session keys and other clients' plaintext), and no thread ID of
 * another process either (a handle names a process; the library refuses those too). */
static int agent_check_pid(agent_req *r, int pid)
{
	int group;

	if (pid <= 0)
		return agent_fail(r, MEMSCAN_ERR_INVALID_ARG, "pid %d: a target needs a PID > 0", pid);
	if (pid == r->ag->self_pid)
		return agent_fail(r, MEMSCAN_ERR_DENIED, "pid %d is the agent itself: never served", pid);
	group = memscan_thread_group(pid);
	if (group == r->ag->self_pid)
		return agent_fail(r, MEMSCAN_ERR_DENIED, "pid %d is a thread of the agent: never served",
		                  pid);
	if (group > 0 && group != pid)
		return agent_fail(r, MEMSCAN_ERR_NO_PROCESS,
		                  "pid %d is a thread of process %d, not a process: name process %d", pid,
		                  group, group);
	return MEMSCAN_OK;
}

int agent_open_target(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc)
{
	memscan_process *proc = NULL;
	int pid = t ? t->pid : 0;
	int err;

	*ret_proc = NULL;
	r->pid = pid;
	err = agent_check_pid(r, pid);
	if (err != MEMSCAN_OK)
		return err;
	err = memscan_process_open(pid, &proc);
	if (err != MEMSCAN_OK)
		return agent_fail(r, err, "cannot open process %d: %s", pid, memscan_strerror(err));
	/* --read-absent: every handle this agent reads with (kept snapshots' too) reads pages never
	 * written instead of zero-filling them, for targets whose memory is supplied on demand */
	err = r->ag->cfg.read_absent ? memscan_process_set_skip_absent(proc, false) : MEMSCAN_OK;
	/* its long operations (a kept snapshot's diffs too) stop once the session's client leaves or
	 * the agent stops */
	if (err == MEMSCAN_OK)
		err = agent_session_watch(r->s, proc);
	if (err != MEMSCAN_OK)
		agent_fail(r, err, "cannot set up process %d: %s", pid, memscan_strerror(err));
	else
		err = agent_check_target(r, t, proc);
	if (err != MEMSCAN_OK) {
		memscan_process_free(proc);
		return err;
	}
	*ret_proc = proc;
	return MEMSCAN_OK;
}

int agent_open_target_cached(agent_req *r, const Memscan__V1__Target *t, memscan_process **ret_proc)
{
	agent_session *s = r->s;
	int pid = t ? t->pid : 0;
	int err;

	*ret_proc = NULL;
	if (s->proc_cache && (pid <= 0 || memscan_process_pid(s->proc_cache) != pid ||
	                      memscan_process_check_alive(s->proc_cache) != MEMSCAN_OK)) {
		memscan_process_free(s->proc_cache);
		s->proc_cache = NULL;
	}
	if (!s->proc_cache) {
		err = agent_open_target(r, t, &s->proc_cache);
		*ret_proc = s->proc_cache;
		return err;
	}
	/* the PID was checked (a process, not the agent) when the handle was opened; its limits may not
	 * hold any more */
	r->pid = pid;
	err = agent_check_target(r, t, s->proc_cache);
	if (err == MEMSCAN_OK)
		*ret_proc = s->proc_cache;
	return err;
}
