#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Checks deploy/Containerfile and deploy/kubernetes/ as they would run.

1. The manifests parse and hold what a safe fleet needs: a DaemonSet with hostPID whose agent runs as a
   non-root user with exactly CAP_SYS_PTRACE, no privilege escalation, a read-only root, resource
   limits, its key from a Secret and its clients from a ConfigMap; a headless Service; a NetworkPolicy.
2. Then the pod is played on this host, as far as a host can play it: in a mount and network namespace
   of its own, /etc holds what the image and the volumes put there, the init container's command runs
   as root with only CAP_CHOWN, and the agent runs with the image's entrypoint and the DaemonSet's
   arguments as the image's user with only the capability the manifest adds. A client then lists the
   processes and the regions of a process of another user through it. The one difference: the agent
   binary is the one under test, not /usr/bin/memscan-agent.

Usage: check_container.py SOURCE_DIR MEMSCAN MEMSCAN_AGENT (as root)
"""
import glob
import json
import os
import shlex
import subprocess
import sys
import tempfile

import yaml

SKIP = 77  # ctest's SKIP_RETURN_CODE for this test


def fail(msg):
    print(f"check_container: {msg}", file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def load_manifests(src):
    docs = {}
    for path in sorted(glob.glob(os.path.join(src, "deploy/kubernetes/*.yaml"))):
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs[(doc["kind"], doc["metadata"]["name"])] = doc
    return docs


def check_manifests(docs):
    ds = docs.get(("DaemonSet", "memscan-agent"))
    expect(ds, "no DaemonSet memscan-agent")
    spec = ds["spec"]["template"]["spec"]
    labels = ds["spec"]["template"]["metadata"]["labels"]
    expect(ds["spec"]["selector"]["matchLabels"].items() <= labels.items(), "DaemonSet selector misses its pods")
    expect(spec.get("hostPID") is True, "the DaemonSet does not set hostPID")
    agent = next(c for c in spec["containers"] if c["name"] == "agent")
    sc = agent["securityContext"]
    expect(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, "the agent may run as root")
    expect(sc["capabilities"] == {"drop": ["ALL"], "add": ["SYS_PTRACE"]}, "capabilities are not exactly SYS_PTRACE")
    expect(sc.get("allowPrivilegeEscalation") is False, "privilege escalation allowed")
    expect(sc.get("readOnlyRootFilesystem") is True, "the root filesystem is writable")
    expect({"cpu", "memory"} <= set(agent["resources"]["limits"]), "no resource limits")
    volumes = {v["name"]: v for v in spec["volumes"]}
    expect(any(v.get("secret", {}).get("secretName") == "memscan-agent-key" for v in volumes.values()),
           "the key does not come from the Secret memscan-agent-key")
    expect(any(v.get("configMap", {}).get("name") == "memscan-agent-clients" for v in volumes.values()),
           "authorized_keys does not come from the ConfigMap memscan-agent-clients")
    cm = docs.get(("ConfigMap", "memscan-agent-clients"))
    expect(cm and "authorized_keys" in cm["data"], "no ConfigMap memscan-agent-clients with authorized_keys")
    svc = docs.get(("Service", "memscan-agent"))
    expect(svc and svc["spec"].get("clusterIP") == "None", "no headless Service memscan-agent")
    expect(svc["spec"]["selector"].items() <= labels.items(), "the Service selects no agent")
    expect(any(p["port"] == 7777 for p in svc["spec"]["ports"]), "the Service does not expose 7777")
    np = docs.get(("NetworkPolicy", "memscan-agent"))
    expect(np and np["spec"]["podSelector"]["matchLabels"].items() <= labels.items(), "no NetworkPolicy for the agents")
    expect(np["spec"]["ingress"] and all(p["port"] == 7777 for r in np["spec"]["ingress"] for p in r["ports"]),
           "the NetworkPolicy lets in more than the agent's port")
    return spec, agent


def containerfile(src):
    """The final stage's USER and ENTRYPOINT, and where it puts agent.conf."""
    user = entry = None
    conf = setcap = False
    with open(os.path.join(src, "deploy/Containerfile")) as f:
        for line in f:
            if line.startswith("FROM "):
                user, entry, conf = None, None, False
            elif line.startswith("USER "):
                user = line.split()[1]
            elif line.startswith("ENTRYPOINT "):
                entry = json.loads(line[len("ENTRYPOINT "):])
            elif line.startswith("COPY ") and line.split()[-1] == "/etc/memscan/agent.conf":
                conf = True
            if "setcap cap_sys_ptrace+ep /usr/bin/memscan-agent" in line:
                setcap = True
    expect(user and user.split(":")[0] not in ("0", "root"), f"the image runs as {user}")
    expect(entry and entry[0] == "/usr/bin/memscan-agent", f"unexpected entrypoint {entry}")
    expect(conf, "the image ships no /etc/memscan/agent.conf")
    # a runtime gives a non-root user no ambient capabilities: the binary must carry the file capability
    expect(setcap, "the image's agent carries no file capability (setcap cap_sys_ptrace+ep)")
    return user, entry


def mount_path(container, volume_name):
    return next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume_name)


def play(src, cli, agent_bin, spec, agent, user, entry):
    """Runs the init container's command and the agent as the pod would, in namespaces of their own."""
    init = spec["initContainers"][0]
    isc = init["securityContext"]
    expect(isc["capabilities"]["drop"] == ["ALL"], "the init container keeps capabilities")
    init_caps = ",".join("+" + c.lower() for c in isc["capabilities"]["add"])
    volumes = {v["name"]: v for v in spec["volumes"]}
    secret_vol = next(n for n, v in volumes.items() if "secret" in v)
    clients_vol = next(n for n, v in volumes.items() if "configMap" in v)
    run_vol = next(n for n, v in volumes.items() if "emptyDir" in v)
    caps = ",".join("+" + c.lower() for c in agent["securityContext"]["capabilities"]["add"])
    uid, gid = (user.split(":") + [user])[:2]
    expect(str(agent["securityContext"]["runAsUser"]) == uid, "the manifest and the image disagree on the user")

    # Everything the pod writes (a copy of /etc, keys) lives in a tmpfs mounted in the pod's own
    # mount namespace: it is gone when the namespace is, whatever happens.
    work = tempfile.mkdtemp(prefix="memscan-pod.")
    os.chmod(work, 0o755)
    secret_dir = mount_path(init, secret_vol)
    clients_dir = mount_path(init, clients_vol)
    run_dir = mount_path(init, run_vol)
    expect(secret_dir.startswith("/etc/") and clients_dir.startswith("/etc/") and run_dir.startswith("/run/"),
           "this check expects the Secret and ConfigMap under /etc and the emptyDir under /run")
    port = next(p["containerPort"] for p in agent["ports"])
    nnp = agent["securityContext"].get("allowPrivilegeEscalation") is False
    agent_args = " ".join(shlex.quote(a) for a in entry[1:] + agent.get("args", []))
    home = f"{work}/home"
    client = f"HOME={home} XDG_CONFIG_HOME={home} {shlex.quote(cli)}"
    ident = f"--identity {home}/id"
    q = shlex.quote
    script = f"""
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs {work}
# the image's /etc, and the Secret's and ConfigMap's files where the pod mounts them
cp -a /etc {work}/etc
mkdir -p {work}/etc/memscan {work}/etc{secret_dir[4:]} {work}/etc{clients_dir[4:]}
cp {q(src)}/deploy/agent.conf {work}/etc/memscan/agent.conf
install -d -m 0700 {home}
{q(cli)} keygen -f {work}/etc{secret_dir[4:]}/agent.key >/dev/null
{client} keygen -f {home}/id >/dev/null
echo "perms=list,read,scan $(cat {home}/id.pub)" >{work}/etc{clients_dir[4:]}/authorized_keys
# the image's binary: the agent under test, with the image's file capability
install -m 0755 {q(agent_bin)} {work}/memscan-agent
setcap cap_sys_ptrace+ep {work}/memscan-agent
mount --bind {work}/etc /etc
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0777 {run_dir}                       # an emptyDir starts world-writable
ip link set lo up
# the init container: root with only {init_caps}
setpriv --bounding-set=-all,{init_caps} --inh-caps=-all /bin/sh -c {q(" ".join(init["command"][2:]))}
mount --bind {run_dir} {run_dir}
mount -o remount,bind,ro {run_dir}              # the agent mounts it read-only
# a process of another user to read
setpriv --reuid=1000 --regid=1000 --clear-groups sleep 30 &
target=$!
# the agent as runc starts it: the image's user, the manifest's capabilities bounding (and, until the
# exec, permitted), no ambient ones (a runtime gives a non-root user none), no_new_privs from
# allowPrivilegeEscalation: false. Past the exec, SYS_PTRACE comes from the binary's file capability
# alone: without it (or without the manifest adding it) the agent cannot read uid 1000's process
setpriv --reuid={uid} --regid={gid} --clear-groups {"--no-new-privs" if nnp else ""} --inh-caps=-all \\
    --bounding-set=-all,{caps} {work}/memscan-agent {agent_args} >{work}/agent.out 2>{work}/agent.err &
agent=$!
{client} trust 127.0.0.1:{port} "$(cat {work}/etc{secret_dir[4:]}/agent.key.pub)" >/dev/null
for i in $(seq 50); do
    {client} remote ps 127.0.0.1:{port} {ident} >{work}/ps.out 2>{work}/ps.err && break
    kill -0 $agent || {{ echo "the agent exited: $(cat {work}/agent.err)" >&2; exit 1; }}
    sleep 0.1
done
grep -q "sleep" {work}/ps.out || {{ echo "remote ps failed: $(cat {work}/ps.err)" >&2; exit 1; }}
{client} remote regions 127.0.0.1:{port}:$target {ident} >{work}/regions.out 2>&1 || \\
    {{ echo "remote regions of uid 1000's process failed: $(cat {work}/regions.out)" >&2; exit 1; }}
grep -q '\\[stack\\]' {work}/regions.out
grep "CapEff" /proc/$agent/status
stat -c 'keys: %a %u %n' {run_dir}/keys {run_dir}/keys/agent.key
"""
    try:
        # a PID namespace too: when its first process ends (or the timeout kills unshare, and with
        # it that process) every process of the pod ends
        r = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
                            "bash", "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        os.rmdir(work)
    if r.returncode != 0:
        fail(f"the pod did not work (exit {r.returncode}):\n{r.stdout}{r.stderr}")
    print(r.stdout, end="")


def main():
    if len(sys.argv) != 4:
        fail("usage: check_container.py SOURCE_DIR MEMSCAN MEMSCAN_AGENT")
    src, cli, agent_bin = sys.argv[1:]
    if os.geteuid() != 0:
        print("check_container: skipped: needs root (namespaces, setpriv, setcap)")
        sys.exit(SKIP)
    docs = load_manifests(src)
    spec, agent = check_manifests(docs)
    print(f"manifests: {len(docs)} objects, DaemonSet/Service/NetworkPolicy/ConfigMap as required")
    user, entry = containerfile(src)
    play(src, cli, agent_bin, spec, agent, user, entry)
    print("pod: init container and agent ran as shipped; a client read another user's process through it")


main()
