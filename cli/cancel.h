/* SPDX-License-Identifier: MIT */
/* Ctrl-C and SIGTERM: local work stops promptly (the library asks a flag the handler sets). */
#ifndef MEMSCAN_CLI_CANCEL_H
#define MEMSCAN_CLI_CANCEL_H

#include <memscan/client.h>
#include <memscan/memscan.h>

/* Installs the SIGINT/SIGTERM handler (once; no SA_RESTART, so sleeps wake up): the first signal sets
 * the flag, a second one ends the process at once as the signal would. */
void cli_cancel_install(void);
/* Installs the handler and makes PROC's long operations ask the flag (they return CANCELLED);
 * MEMSCAN_OK, or memscan_process_set_cancel's error. */
int cli_cancel_attach(memscan_process *proc);
/* Installs the handler and makes CLIENT's reads ask the flag (they return CANCELLED); MEMSCAN_OK, or
 * memscan_client_set_cancel's error. */
int cli_cancel_attach_client(memscan_client *client);
/* True once SIGINT or SIGTERM arrived. */
int cli_cancelled(void);
/* cli_cancelled as a memscan_cancel_fn (CTX unused), for the hooks of work without a process. */
int cli_cancel_ask(void *ctx);
/* Forgets a SIGINT or SIGTERM that arrived (so the next operation runs) and returns its number, or
 * 0: for an interactive command that cancels one operation but goes on. */
int cli_cancel_reset(void);
/* The exit code of a command that returned RET: 128 + the signal if a signal stopped it (130 for
 * SIGINT, 143 for SIGTERM, as shells report), else RET. */
int cli_cancel_exit_code(int ret);

#endif /* MEMSCAN_CLI_CANCEL_H */
