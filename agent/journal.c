/* SPDX-License-Identifier: MIT */
/* systemd integration (libsystemd): readiness, reload and stop notices (sd_notify, nothing when
 * NOTIFY_SOCKET is unset), and audit lines as journal entries with structured fields when stderr is
 * the journal (JOURNAL_STREAM names stderr's device and inode, as systemd sets it for a service). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#include "agent.h"

static bool journal_on;

void agent_journal_detect(void)
{
	const char *stream = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	journal_on = stream && sscanf(stream, "%llu:%llu", &dev, &ino) == 2 &&
	             fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	             (unsigned long long)st.st_ino == ino;
}

bool agent_journal_on(void)
{
	return journal_on;
}

int agent_journal_audit(const char *message, const char *peer, const char *key, const char *op, int pid,
                        uint64_t bytes, const char *result, bool ok)
{
	int r = sd_journal_send("MESSAGE=%s", message, "PRIORITY=%d", ok ? LOG_INFO : LOG_NOTICE,
	                        "SYSLOG_IDENTIFIER=memscan-agent", "MEMSCAN_EVENT=audit", "MEMSCAN_PEER=%s",
	                        peer, "MEMSCAN_KEY=%s", key, "MEMSCAN_OP=%s", op, "MEMSCAN_PID=%d", pid,
	                        "MEMSCAN_BYTES=%llu", (unsigned long long)bytes, "MEMSCAN_RESULT=%s", result,
	                        NULL);

	return r < 0 ? -1 : 0;
}

int agent_journal_refused(const char *message, const char *peer, const char *key, const char *reason)
{
	int r = sd_journal_send("MESSAGE=%s", message, "PRIORITY=%d", LOG_WARNING,
	                        "SYSLOG_IDENTIFIER=memscan-agent", "MEMSCAN_EVENT=refused", "MEMSCAN_PEER=%s",
	                        peer, "MEMSCAN_KEY=%s", key, "MEMSCAN_REASON=%s", reason, NULL);

	return r < 0 ? -1 : 0;
}

void agent_notify_ready(const char *fp)
{
	(void)sd_notifyf(0, "READY=1\nSTATUS=serving; key %s", fp);
}

void agent_notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading authorized keys",
	                 (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

void agent_notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}
