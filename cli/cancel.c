/* SPDX-License-Identifier: MIT */
/* Ctrl-C and SIGTERM for the memscan CLI: a flag set by the handler, asked by libmemscan. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "args.h"
#include "cancel.h"

/* The signal that asked to stop, or 0. Lock-free, so the handler may store it and the library's
 * worker threads may load it. */
static atomic_int cli_stop_signal;
static int cli_handler_installed;

static void on_stop_signal(int sig)
{
	if (atomic_exchange(&cli_stop_signal, sig) != 0) {
		/* asked twice: stop now, as if there were no handler (the shell sees the signal) */
		signal(sig, SIG_DFL);
		raise(sig);
	}
}

void cli_cancel_install(void)
{
	struct sigaction sa;

	if (cli_handler_installed)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	cli_handler_installed = 1;
}

int cli_cancel_ask(void *ctx)
{
	(void)ctx;
	return atomic_load(&cli_stop_signal) != 0;
}

int cli_cancel_attach(memscan_process *proc)
{
	cli_cancel_install();
	return memscan_process_set_cancel(proc, cli_cancel_ask, NULL);
}

int cli_cancel_attach_client(memscan_client *client)
{
	cli_cancel_install();
	return memscan_client_set_cancel(client, cli_cancel_ask, NULL);
}

int cli_cancelled(void)
{
	return cli_cancel_ask(NULL);
}

int cli_cancel_reset(void)
{
	return atomic_exchange(&cli_stop_signal, 0);
}

int cli_cancel_exit_code(int ret)
{
	int sig = atomic_load(&cli_stop_signal);

	return sig && ret != CLI_OK ? 128 + sig : ret;
}
