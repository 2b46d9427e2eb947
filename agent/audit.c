/* SPDX-License-Identifier: MIT */
/* Audit and log lines on stderr: one line per request and per refused handshake, never memory contents. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

static pthread_mutex_t agent_log_lock = PTHREAD_MUTEX_INITIALIZER;

const char *agent_err_name(int err)
{
	const ProtobufCEnumValue *v =
	    protobuf_c_enum_descriptor_get_value(&memscan__v1__error_code__descriptor, err);

	return v ? v->name : "PROTOCOL";
}

/* ISO 8601 UTC with milliseconds. */
static void agent_timestamp(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

/* Writes LEN bytes of LINE to stderr, retrying short writes. */
static void agent_write_line(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* stderr is gone: nothing else to tell it to */
		line += n;
		len -= (size_t)n;
	}
}

/* One line, built in one buffer and written with one write(2): a line per request costs a syscall and
 * no stdio locking; the lock keeps lines whole should a write come back short. */
__attribute__((format(printf, 1, 0))) static void agent_vlog(const char *fmt, va_list ap)
{
	static const char prefix[] = "memscan-agent: ";
	char line[sizeof(prefix) + 1024];
	size_t len = sizeof(prefix) - 1;
	int n;

	memcpy(line, prefix, len);
	n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
	if (n < 0)
		n = 0;
	len += (size_t)n < sizeof(line) - len - 1 ? (size_t)n : sizeof(line) - len - 2;
	line[len++] = '\n';
	pthread_mutex_lock(&agent_log_lock);
	agent_write_line(line, len);
	pthread_mutex_unlock(&agent_log_lock);
}

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_vlog(fmt, ap);
	va_end(ap);
}

void agent_audit(const agent_session *s, const char *op, int pid, uint64_t bytes, int err)
{
	const char *key = s->fp[0] ? s->fp : "-", *result = agent_err_name(err);
	char ts[48], msg[512];

	op = op ? op : "unknown";
	if (agent_journal_on()) { /* the journal stamps the time itself */
		snprintf(msg, sizeof(msg), "audit peer=%s key=%s op=%s pid=%d bytes=%llu result=%s", s->peer,
		         key, op, pid, (unsigned long long)bytes, result);
		if (agent_journal_audit(msg, s->peer, key, op, pid, bytes, result, err == 0) == 0)
			return;
	}
	agent_timestamp(ts, sizeof(ts));
	agent_log("audit time=%s peer=%s key=%s op=%s pid=%d bytes=%llu result=%s", ts, s->peer, key, op, pid,
	          (unsigned long long)bytes, result);
}

void agent_audit_close(agent_session *s, int err)
{
	if (!s->audit.op)
		return;
	agent_audit(s, s->audit.op, s->audit.pid, s->audit.bytes, err);
	s->audit.op = NULL;
}

void agent_audit_request(agent_session *s, const agent_req *r)
{
	int paging = s->pending.ops && s->pending.cursor != 0;

	if (r->req && r->req->op_case == MEMSCAN__V1__REQUEST__OP_NEXT && s->audit.op) {
		s->audit.bytes += r->bytes;
		if (r->err != MEMSCAN_OK || !paging)
			agent_audit_close(s, r->err);
		return;
	}
	/* any other request drops the result still being paged (dispatch cleared it) */
	agent_audit_close(s, MEMSCAN_ERR_CANCELLED);
	if (r->err == MEMSCAN_OK && paging) {
		s->audit.op = r->op;
		s->audit.pid = r->pid;
		s->audit.bytes = r->bytes;
		return;
	}
	agent_audit(s, r->op, r->pid, r->bytes, r->err);
}

void agent_refused(const char *peer, const char *reason, const char *fp)
{
	const char *key = fp && fp[0] ? fp : "-";
	char ts[48], msg[512];

	if (agent_journal_on()) {
		snprintf(msg, sizeof(msg), "refused peer=%s key=%s reason=%s", peer, key, reason);
		if (agent_journal_refused(msg, peer, key, reason) == 0)
			return;
	}
	agent_timestamp(ts, sizeof(ts));
	agent_log("refused time=%s peer=%s key=%s reason=%s", ts, peer, key, reason);
}
