/* SPDX-License-Identifier: MIT */
/* memscan-bench's own agent: throwaway keys, the agent started on loopback, clients connected to it. */
#include "remote.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memscan/client.h>
#include <memscan/memscan.h>

static void key_path(const remote *rm, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.key", rm->key_dir, name);
}

static int make_key(const remote *rm, const char *name, char *pub, size_t publen)
{
	char path[360], pubpath[370], fp[MEMSCAN_FINGERPRINT_LEN], err[256];

	key_path(rm, name, path, sizeof(path));
	snprintf(pubpath, sizeof(pubpath), "%s.pub", path);
	if (memscan_key_generate(path, name, fp, err, sizeof(err)) != MEMSCAN_OK) {
		bench_log("keygen %s: %s", path, err);
		return -1;
	}
	return bench_read_line(pubpath, pub, publen);
}

/* Keys: the agent's, "main" and "proxy" for the measuring clients, c0..cN-1 for the concurrent ones. */
int remote_start(remote *rm, const bench_opts *o)
{
	char auth[320], keyp[360], errp[320], pub[256], name[32], line[512];
	const char *argv[] = { o->agent_path, "--listen", "tcp://127.0.0.1:0", "--key", keyp,
		               "--authorized-keys", auth, "--max-per-peer", "1024", "--max-connections",
		               "1024",
		               /* a remote diff needs budget for the baseline and for what it re-reads */
		               "--session-budget", "8G", "--global-budget", "32G", NULL };
	FILE *f;

	memset(rm, 0, sizeof(*rm));
	rm->o = o;
	rm->agent.pid = -1;
	snprintf(rm->key_dir, sizeof(rm->key_dir), "%s/keys", o->tmpdir);
	if (mkdir(rm->key_dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(auth, sizeof(auth), "%s/authorized_keys", rm->key_dir);
	snprintf(errp, sizeof(errp), "%s/agent.log", o->tmpdir);
	key_path(rm, "agent", keyp, sizeof(keyp));
	if (make_key(rm, "agent", rm->agent_pub, sizeof(rm->agent_pub)) != 0)
		return -1;
	f = fopen(auth, "w");
	if (!f)
		return -1;
	rm->nkeys = o->clients;
	for (int i = -2; i < rm->nkeys; i++) {
		if (i == -2)
			snprintf(name, sizeof(name), "main");
		else if (i == -1)
			snprintf(name, sizeof(name), "proxy");
		else
			snprintf(name, sizeof(name), "c%d", i);
		if (make_key(rm, name, pub, sizeof(pub)) != 0) {
			fclose(f);
			return -1;
		}
		fprintf(f, "perms=list,read,scan %s\n", pub);
	}
	if (fclose(f) != 0)
		return -1;
	if (child_start(&rm->agent, argv, errp) != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (child_read_line(&rm->agent, line, sizeof(line), 10000) != 0)
			break;
		if (sscanf(line, "listening %127s", rm->url) == 1)
			return 0;
	}
	bench_log("the agent did not print its listening line (see %s)", errp);
	child_stop(&rm->agent);
	return -1;
}

void remote_stop(remote *rm)
{
	if (rm->agent.pid > 0) {
		kill(rm->agent.pid, SIGTERM);
		for (int i = 0; i < 200; i++) {
			if (waitpid(rm->agent.pid, NULL, WNOHANG) == rm->agent.pid) {
				rm->agent.pid = -1;
				break;
			}
			usleep(10000);
		}
	}
	child_stop(&rm->agent);
}

int remote_client_open(const remote *rm, const char *name, const char *url, memscan_client **ret)
{
	char path[360];
	memscan_client *c = NULL;
	int rc;

	*ret = NULL;
	key_path(rm, name, path, sizeof(path));
	rc = memscan_client_new(&c);
	if (rc == MEMSCAN_OK)
		rc = memscan_client_set_identity_file(c, path);
	if (rc == MEMSCAN_OK)
		rc = memscan_client_set_agent_key_line(c, rm->agent_pub);
	if (rc == MEMSCAN_OK)
		rc = memscan_client_connect(c, url);
	if (rc != MEMSCAN_OK) {
		bench_log("client %s -> %s: %s (%s)", name, url, memscan_strerror(rc),
		          c ? memscan_client_last_error(c) : "");
		memscan_client_free(c);
		return rc;
	}
	*ret = c;
	return MEMSCAN_OK;
}
