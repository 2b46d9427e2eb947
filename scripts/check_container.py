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
    conf = False
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
    expect(user and user.split(":")[0] not in ("0", "root"), f"the image runs as {user}")
    expect(entry and entry[0] == "/usr/bin/memscan-agent", f"unexpected entrypoint {entry}")
    expect(conf, "the image ships no /etc/memscan/agent.conf")
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

    work = tempfile.mkdtemp(prefix="memscan-pod.")
    os.chmod(work, 0o755)
    etc = os.path.join(work, "etc")
    subprocess.run(["cp", "-a", "/etc", etc], check=True)
    os.makedirs(os.path.join(etc, "memscan"), exist_ok=True)
    subprocess.run(["cp", os.path.join(src, "deploy/agent.conf"), os.path.join(etc, "memscan/agent.conf")], check=True)
    # the volumes' contents, where the pod mounts them (under /etc in this pod)
    secret_dir = mount_path(init, secret_vol)
    clients_dir = mount_path(init, clients_vol)
    run_dir = mount_path(init, run_vol)
    expect(secret_dir.startswith("/etc/") and clients_dir.startswith("/etc/") and run_dir.startswith("/run/"),
           "this check expects the Secret and ConfigMap under /etc and the emptyDir under /run")
    home = os.path.join(work, "home")
    os.makedirs(home, mode=0o700)
    subprocess.run([cli, "keygen", "-f", os.path.join(work, "agent.key")], check=True, capture_output=True)
    subprocess.run([cli, "keygen", "-f", os.path.join(home, "id")], check=True, capture_output=True)
    secret_dir, clients_dir = (etc + d[len("/etc"):] for d in (secret_dir, clients_dir))
    for d in (secret_dir, clients_dir):
        os.makedirs(d, exist_ok=True)
    subprocess.run(["cp", os.path.join(work, "agent.key"), secret_dir + "/agent.key"], check=True)
    with open(os.path.join(home, "id.pub")) as f:
        client_pub = f.read().strip()
    with open(clients_dir + "/authorized_keys", "w") as f:
        f.write(f"perms=list,read,scan {client_pub}\n")
    with open(os.path.join(work, "agent.key.pub")) as f:
        agent_pub = f.read().strip()
    port = next(p["containerPort"] for p in agent["ports"])

    agent_cmd = [agent_bin] + entry[1:] + agent.get("args", [])
    client = f"HOME={shlex.quote(home)} XDG_CONFIG_HOME={shlex.quote(home)} {shlex.quote(cli)}"
    ident = f"--identity {shlex.quote(home)}/id"
    script = f"""
set -e
mount --make-rprivate /
mount --bind {shlex.quote(etc)} /etc
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -m 0777 {run_dir}                       # an emptyDir starts world-writable
ip link set lo up
# the init container: root with only {init_caps}
setpriv --bounding-set=-all,{init_caps} --inh-caps=-all /bin/sh -c {shlex.quote(" ".join(init["command"][2:]))}
mount --bind {run_dir} {run_dir}
mount -o remount,bind,ro {run_dir}              # the agent mounts it read-only
# a process of another user to read
setpriv --reuid=1000 --regid=1000 --clear-groups sleep 30 &
target=$!
setpriv --reuid={uid} --regid={gid} --clear-groups --no-new-privs --inh-caps=-all,{caps} \\
    --ambient-caps=-all,{caps} --bounding-set=-all,{caps} {" ".join(shlex.quote(a) for a in agent_cmd)} \\
    >{work}/agent.out 2>{work}/agent.err &
agent=$!
trap 'kill $agent $target 2>/dev/null || true' EXIT
{client} trust 127.0.0.1:{port} {shlex.quote(agent_pub)} >/dev/null
for i in $(seq 50); do
    {client} remote ps 127.0.0.1:{port} {ident} >{work}/ps.out 2>{work}/ps.err && break
    kill -0 $agent || {{ echo "the agent exited: $(cat {work}/agent.err)" >&2; exit 1; }}
    sleep 0.1
done
grep -q "sleep" {work}/ps.out
{client} remote regions 127.0.0.1:{port}:$target {ident} | grep -q '\\[stack\\]'
grep "CapEff" /proc/$agent/status
stat -c 'keys: %a %u %n' /run/memscan/keys /run/memscan/keys/agent.key
"""
    r = subprocess.run(["unshare", "--mount", "--net", "--fork", "bash", "-c", script],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        err = open(os.path.join(work, "agent.err")).read() if os.path.exists(os.path.join(work, "agent.err")) else ""
        fail(f"the pod did not work (exit {r.returncode}):\n{r.stdout}{r.stderr}\nagent: {err}")
    print(r.stdout, end="")
    subprocess.run(["rm", "-rf", work])


def main():
    if len(sys.argv) != 4:
        fail("usage: check_container.py SOURCE_DIR MEMSCAN MEMSCAN_AGENT")
    src, cli, agent_bin = sys.argv[1:]
    expect(os.geteuid() == 0, "needs root (namespaces, setpriv)")
    docs = load_manifests(src)
    spec, agent = check_manifests(docs)
    print(f"manifests: {len(docs)} objects, DaemonSet/Service/NetworkPolicy/ConfigMap as required")
    user, entry = containerfile(src)
    play(src, cli, agent_bin, spec, agent, user, entry)
    print("pod: init container and agent ran as shipped; a client read another user's process through it")


main()
