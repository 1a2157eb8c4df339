"""Security checks (issue 15, item 5) with the REAL binary on the REAL control
plane, every instance at --log-level trace:

  secrets    a bearer token in the kubeconfig, a client certificate and key
             (inline data), an exec plugin's token, and a token the server
             refuses (401): none of them, nor any 32-character piece of the
             key's base64, appears in the binary's output (stdout + stderr),
             in /healthz, /readyz (verbose too) or /metrics;
  tls        verified by default: a kubeconfig naming another CA is refused
             (a TLS verification error in the log, never ready, no Node
             listed); insecure-skip-tls-verify only when the kubeconfig asks,
             and then a warning at start; none without it;
  files      what the binary creates on disk (strace -f of a whole run, every
             file-creating call): nothing, or only files that group and
             others cannot read.
"""

import base64
import os
import re
import signal
import subprocess
import time

import harness as H
import standalone_auth as S

TRACE = ("--log-level", "trace")
LEVEL = re.compile(r"^\S+Z (trace|debug|info|warning|error) ", re.M)
FILE_CALLS = re.compile(r"\b(open|openat|openat2|creat|mkdir|mkdirat|rename|renameat2?|link|"
                        r"linkat|symlink|symlinkat)\(")


def kubeconfig(server, cluster_lines, user_lines):
    return ("apiVersion: v1\nkind: Config\ncurrent-context: it\n"
            f"clusters:\n- name: it\n  cluster:\n    server: {server}\n{cluster_lines}"
            f"users:\n- name: robot\n  user:\n{user_lines}"
            "contexts:\n- name: it\n  context:\n    cluster: it\n    user: robot\n")


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def key_pieces(key_path):
    """The key's PEM body and every 32-character piece of it (a partial leak)."""
    with open(key_path) as f:
        body = "".join(ln.strip() for ln in f if not ln.startswith("-----"))
    return [body] + [body[i:i + 32] for i in range(0, len(body) - 31, 16)]


def exec_plugin(h, token):
    d = os.path.join(h.workdir, "plugin")
    os.makedirs(d)
    path = os.path.join(d, "plugin.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho '{\"apiVersion\": \"client.authentication.k8s.io/v1\", "
                "\"kind\": \"ExecCredential\", \"status\": {\"token\": \"" + token + "\"}}'\n")
    os.chmod(path, 0o700)
    return ("    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
            f"      command: {path}\n      interactiveMode: Never\n")


def start(h, name, text, extra=(), prefix=()):
    """The binary with kubeconfig `text` (standalone_auth.start, with flags)."""
    def write(path, *_args, **_kw):
        with open(path, "w") as f:
            f.write(text)
    saved, H.write_kubeconfig = H.write_kubeconfig, write
    try:
        return h.instance(name, *extra, env=S.NO_PROXY_ENV, prefix=prefix)
    finally:
        H.write_kubeconfig = saved


def run_and_probe(h, name, text, bodies, ready=True, extra=(), timeout=30):
    """Starts the binary with kubeconfig `text` at trace level; with ready,
    waits until it listed the Nodes and is ready, then keeps its health and
    metrics bodies; -> the instance (stopped)."""
    inst = start(h, name, text, TRACE + tuple(extra))
    if ready:
        secs = S.ready(inst, timeout, name)
        _, lead = H.wait_for(lambda: "became leader" in inst.logs(), 20, f"{name} leading")
        time.sleep(1)  # a full run: publishes, watches, renews the Lease
        print(f"     {name}: ready after {secs:.1f} s, leading {lead:.1f} s later", flush=True)
        for path in ("/healthz", "/readyz", "/readyz?verbose", "/healthz?verbose"):
            bodies[f"{name} {path}"] = inst.healthz(path)[1]
        bodies[f"{name} /metrics"] = inst.metrics_text()
        inst.stop()  # the next run takes the Lease over
    return inst


def check_secrets(h, insts, bodies, secrets):
    texts = {f"log of {i.node}": i.logs() for i in insts}
    texts.update(bodies)
    lines = sum(t.count("\n") for t in texts.values())
    levels = [m.group(1) for i in insts for m in LEVEL.finditer(i.logs())]
    low = {lv: levels.count(lv) for lv in ("trace", "debug")}
    print(f"     {len(texts)} texts searched ({lines} lines; {low} lines below info in the "
          f"logs) for {len(secrets)} secrets and pieces", flush=True)
    H.check(sum(low.values()) > 0, "the logs show levels below info (the search means "
            "something)", low)
    leaks = [(what, where) for what, s in secrets for where, t in texts.items() if s in t]
    H.check(not leaks, "no secret appears in any log, health or metrics body", leaks[:5])


def secrets_and_tls(h, bodies):
    cp, server = h.cluster.cp, h.cluster.server
    ca = f"    certificate-authority: {h.cluster.ca_file}\n"
    token, exec_token = h.cluster.binary_token, cp.token("kube-chorus-router", "kube-system")
    wrong = "kcr-wrong-" + base64.b32encode(os.urandom(20)).decode()
    cert_user = (f"    client-certificate-data: {b64file(cp.admin_cert)}\n"
                 f"    client-key-data: {b64file(cp.admin_key)}\n")
    for k in range(3):  # Nodes to publish: a full run
        h.add_node(f"node-{k}", f"203.0.113.{21 + k}", f"10.200.{k}.0/24")
    insts = [run_and_probe(h, "token", kubeconfig(server, ca, f"    token: {token}\n"), bodies),
             run_and_probe(h, "cert", kubeconfig(server, ca, cert_user), bodies),
             run_and_probe(h, "exec", kubeconfig(server, ca, exec_plugin(h, exec_token)), bodies)]
    refused = run_and_probe(h, "refused", kubeconfig(server, ca, f"    token: {wrong}\n"),
                            bodies, ready=False)
    H.wait_for(lambda: "401" in refused.logs() or "Unauthorized" in refused.logs(), 20,
               "the refused token's 401 in the log")
    insts.append(refused)
    for i in insts:
        i.stop()
    secrets = [("token", token), ("exec token", exec_token), ("refused token", wrong)]
    secrets += [("client key", p) for p in key_pieces(cp.admin_key)]
    secrets += [("token signature", t.rsplit(".", 1)[-1]) for t in (token, exec_token)]
    check_secrets(h, insts, bodies, secrets)
    warn = [i.node for i in insts if "is OFF" in i.logs()]
    H.check(not warn, "no insecure-TLS warning when TLS is verified", warn)
    return token


def tls(h, token):
    server = h.cluster.server
    other = os.path.join(h.workdir, "other-ca")
    os.makedirs(other)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f"{other}/ca.key",
                    "-out", f"{other}/ca.crt", "-subj", "/CN=another-ca", "-days", "1"],
                   check=True, capture_output=True)
    bad = run_and_probe(h, "wrong-ca", kubeconfig(
        server, f"    certificate-authority: {other}/ca.crt\n", f"    token: {token}\n"),
        {}, ready=False)
    H.wait_for(lambda: "TLS verification" in bad.logs(), 20, "a TLS verification error")
    time.sleep(3)  # retries happen meanwhile; none may get through
    logs = bad.logs()
    H.check("node_watcher: listed" not in logs and bad.healthz("/readyz")[0] != 200,
            "with another CA: not ready, no Node listed")
    line = next(ln for ln in logs.splitlines() if "TLS verification" in ln)
    print(f"     {line.strip()[:200]}")
    bad.stop()
    insecure = run_and_probe(h, "insecure", kubeconfig(
        server, "    insecure-skip-tls-verify: true\n", f"    token: {token}\n"), {})
    insecure.stop()
    warn = [ln for ln in insecure.logs().splitlines() if "is OFF" in ln]
    H.check(warn and ("warn" in warn[0].lower()),
            "insecure-skip-tls-verify works and is logged as a warning", warn[:1])
    print(f"     {warn[0].strip()[:200]}")


def created_files(trace):
    """(call, path, mode) of every successful file-creating call in strace output."""
    out = []
    for ln in trace.splitlines():
        if not FILE_CALLS.search(ln) or " = -1 " in ln or "<unfinished" in ln:
            continue
        if ln.split("(")[0].split()[-1].startswith("open") and "O_CREAT" not in ln:
            continue
        path = re.search(r'"([^"]*)"', ln)
        mode = re.search(r"O_CREAT[^,]*, (0[0-7]+)", ln)
        out.append((ln.split("(")[0].split()[-1], path.group(1) if path else "?",
                    mode.group(1) if mode else None))
    return out


def files(h, token):
    trace = os.path.join(h.workdir, "strace.out")
    text = kubeconfig(h.cluster.server, f"    certificate-authority: {h.cluster.ca_file}\n",
                      f"    token: {token}\n")
    inst = start(h, "strace", text, TRACE,
                 prefix=("strace", "-f", "-qq", "-e", "trace=%file", "-o", trace))
    S.ready(inst, 60, "under strace")
    kid = int(open(f"/proc/{inst.proc.pid}/task/{inst.proc.pid}/children").read().split()[0])
    os.kill(kid, signal.SIGTERM)  # the binary; strace ends with it
    H.check(inst.wait(15) is not None, "the traced binary exited on SIGTERM")
    inst.stop()
    with open(trace) as f:
        text = f.read()
    H.check(inst.kubeconfig in text, "strace saw the binary open its kubeconfig (it traced the "
            "run)", f"{text.count(chr(10))} lines")
    got = created_files(text)
    print(f"     file-creating calls of a whole run: {got or 'none'}")
    unsafe = [c for c in got if not c[1].startswith(("/proc/", "/sys/", "/dev/"))
              and (c[2] is None or int(c[2], 8) & 0o077)]
    H.check(not unsafe, "the binary creates no file that group or others may read", unsafe)


def body(h):
    bodies = {}
    token = secrets_and_tls(h, bodies)
    tls(h, token)
    files(h, token)


if __name__ == "__main__":
    H.run_test(body)
