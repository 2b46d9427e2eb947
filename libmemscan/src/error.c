/* SPDX-License-Identifier: MIT */
/* Error strings and codes (and the version string). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef MEMSCAN_VERSION_STRING
#define MEMSCAN_VERSION_STRING "0.0.0"
#endif

static const char *const ms_errors[MEMSCAN_ERR_COUNT] = {
	[MEMSCAN_OK] = "success",
	[MEMSCAN_ERR_INVALID_ARG] = "invalid argument",
	[MEMSCAN_ERR_NO_PROCESS] = "no such process",
	[MEMSCAN_ERR_PERMISSION] = "permission denied",
	[MEMSCAN_ERR_PROCESS_GONE] = "process exited",
	[MEMSCAN_ERR_UNREADABLE] = "memory not readable",
	[MEMSCAN_ERR_PARTIAL] = "memory partially readable",
	[MEMSCAN_ERR_NO_MEMORY] = "out of memory",
	[MEMSCAN_ERR_IO] = "input/output error",
	[MEMSCAN_ERR_BAD_PATTERN] = "malformed pattern",
	[MEMSCAN_ERR_BAD_FORMAT] = "malformed data",
	[MEMSCAN_ERR_TRUNCATED] = "data truncated",
	[MEMSCAN_ERR_UNSUPPORTED_VERSION] = "unsupported format version",
	[MEMSCAN_ERR_LIMIT] = "size limit exceeded",
	[MEMSCAN_ERR_NOT_FOUND] = "not found",
	[MEMSCAN_ERR_STOPPED] = "stopped by callback",
	[MEMSCAN_ERR_DENIED] = "operation not permitted for this key",
	[MEMSCAN_ERR_PROTOCOL] = "protocol error",
	[MEMSCAN_ERR_UNKNOWN_OP] = "unknown operation",
	[MEMSCAN_ERR_TIMEOUT] = "timed out",
	[MEMSCAN_ERR_CONNECT] = "cannot connect to agent",
	[MEMSCAN_ERR_AUTH] = "authentication failed",
	[MEMSCAN_ERR_BUSY] = "agent busy (limit reached)",
	[MEMSCAN_ERR_CANCELLED] = "cancelled",
};

const char *memscan_strerror(int err)
{
	if (err < 0 || err >= MEMSCAN_ERR_COUNT || !ms_errors[err])
		return "unknown error";
	return ms_errors[err];
}

const char *memscan_version(void)
{
	return MEMSCAN_VERSION_STRING;
}

int ms_err_from_errno(int e)
{
	switch (e) {
	case ESRCH:
		return MEMSCAN_ERR_PROCESS_GONE;
	case EPERM:
	case EACCES:
		return MEMSCAN_ERR_PERMISSION;
	case ENOMEM:
		return MEMSCAN_ERR_NO_MEMORY;
	case EFAULT:
	case EIO:
		return MEMSCAN_ERR_UNREADABLE;
	case ENOENT:
		return MEMSCAN_ERR_NO_PROCESS;
	case EINVAL:
		return MEMSCAN_ERR_INVALID_ARG;
	case E2BIG:  /* a growing array reached its maximum (ms_grow) */
	case EMFILE: /* out of descriptors: a limit, not an I/O failure */
	case ENFILE:
		return MEMSCAN_ERR_LIMIT;
	default:
		return MEMSCAN_ERR_IO;
	}
}
