"""Standalone auth 1: kubeconfig `exec` credential plugins
(client.authentication.k8s.io/v1) with the REAL binary on the REAL control
plane. A plugin script written here counts its runs in a file and prints an
ExecCredential with a TokenRequest token of the shipped ServiceAccount:
  - short expirationTimestamp: the binary works and runs the plugin again
    after expiry (not on every request);
  - a first token the server refuses: the 401 makes it run the plugin again;
  - a client certificate credential (the admin's) instead of a token;
  - garbage output, exit 1, a missing command: the binary stops at start
    with an error naming the kubeconfig, the user and the problem."""

import json
import os
import time

import harness as H
import standalone_auth as S

V1 = "client.authentication.k8s.io/v1"

PLUGIN = r'''#!/usr/bin/env python3
import datetime, json, os
d = os.environ["PLUGIN_DIR"]
runs = os.path.join(d, "runs")
n = int(open(runs).read()) + 1 if os.path.exists(runs) else 1
open(runs, "w").write(str(n))
with open(os.path.join(d, "exec-info-%d" % n), "w") as f:
    f.write(os.environ.get("KUBERNETES_EXEC_INFO", ""))
if os.environ.get("MODE") == "cert":
    status = {"clientCertificateData": open(os.environ["CERT"]).read(),
              "clientKeyData": open(os.environ["KEY"]).read()}
else:
    tokens = open(os.path.join(d, "tokens")).read().split()
    status = {"token": tokens[min(n, len(tokens)) - 1]}
ttl = int(os.environ.get("TTL", "0"))
if ttl:
    exp = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(seconds=ttl)
    status["expirationTimestamp"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1",
                  "kind": "ExecCredential", "status": status}))
'''


def plugin_dir(h, name, tokens=()):
    d = os.path.join(h.workdir, name)
    os.makedirs(d)
    with open(os.path.join(d, "plugin"), "w") as f:
        f.write(PLUGIN)
    os.chmod(os.path.join(d, "plugin"), 0o755)
    with open(os.path.join(d, "tokens"), "w") as f:
        f.write("\n".join(tokens) + "\n")
    return d


def runs(d):
    try:
        with open(os.path.join(d, "runs")) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 0


def exec_user(command, env=(), extra=""):
    lines = (f"    exec:\n      apiVersion: {V1}\n      command: {command}\n"
             "      interactiveMode: Never\n      provideClusterInfo: true\n"
             + extra)
    if env:
        lines += "      env:\n" + "".join(
            f"      - name: {k}\n        value: \"{v}\"\n" for k, v in env)
    return lines


def start(h, d, env=(), command=None, extra=""):
    text = S.kubeconfig(h.cluster.server, h.cluster.ca_file, exec_user(
        command or os.path.join(d, "plugin"),
        [("PLUGIN_DIR", d), *env], extra))
    return S.start(h, "node-0000", text)


def users_of(h):
    return {r["user"] for r in h.cluster.requests()}


def expiry(h):
    """TTL 4 s: works, the plugin runs again after expiry, not per request."""
    d = plugin_dir(h, "expiry", [h.cluster.binary_token])
    h.cluster.clear_requests()
    inst = start(h, d, env=[("TTL", "4")])
    secs = S.ready(inst, 30, "exec plugin token")
    print(f"     ready {secs:.1f} s after start, plugin runs: {runs(d)}")
    names = [n["metadata"]["name"] for n in h.cluster.nodes()]
    H.wait_published(h.cluster, names, timeout=20)
    H.check(True, "the ConfigMap is published with the plugin's token")
    info = json.loads(open(os.path.join(d, "exec-info-1")).read())
    H.check(info.get("kind") == "ExecCredential" and info.get("apiVersion") == V1
            and info["spec"].get("interactive") is False
            and info["spec"].get("cluster", {}).get("server") == h.cluster.server,
            "the plugin got KUBERNETES_EXEC_INFO (v1, interactive false, "
            "spec.cluster.server with provideClusterInfo)", info)
    r0, t0 = runs(d), time.monotonic()
    H.wait_for(lambda: runs(d) >= r0 + 2, 15,
               "the plugin run again twice after its credentials expired")
    time.sleep(max(0.0, 8 - (time.monotonic() - t0)))
    n = runs(d) - r0
    print(f"     {n} more plugin runs in {time.monotonic() - t0:.1f} s "
          "(credentials valid 4 s)")
    H.check(2 <= n <= 5, "re-run about once per lifetime, not per request", n)
    H.check(inst.healthz("/readyz")[0] == 200, "/readyz still 200 after the "
            "re-runs")
    reqs = h.cluster.requests()
    H.check(not [r for r in reqs if r["status"] == 401],
            "no request was answered 401 (renewed before expiry)")
    H.check(H.C.SA_USER in users_of(h), "requests authenticated as the "
            "ServiceAccount", users_of(h))
    inst.stop()


def after_401(h):
    """A first token the server refuses: the 401 runs the plugin again."""
    d = plugin_dir(h, "unauthorized", ["not-a-valid-token",
                                       h.cluster.binary_token])
    h.cluster.clear_requests()
    inst = start(h, d)  # no expirationTimestamp: only a 401 re-runs it
    S.ready(inst, 30, "after a 401")
    n = runs(d)
    print(f"     plugin runs: {n}")
    H.check(n >= 2, "the plugin ran again after the 401", n)
    statuses = [r["status"] for r in h.cluster.requests()]
    H.check(401 in statuses, "the server did answer 401 to the first token")
    inst.stop()


def client_cert(h):
    """clientCertificateData / clientKeyData: the admin certificate."""
    d = plugin_dir(h, "cert")
    h.cluster.clear_requests()
    inst = start(h, d, env=[("MODE", "cert"), ("CERT", h.cluster.cp.admin_cert),
                            ("KEY", h.cluster.cp.admin_key)])
    S.ready(inst, 30, "exec plugin client certificate")
    # The kubeconfig has no token: only the certificate can have got it
    # there. (The audit log leaves out kcr-admin; an anonymous or refused
    # request would show up in it.)
    time.sleep(2)
    others = [r for r in h.cluster.requests()
              if r["status"] in (401, 403) or "anonymous" in r["user"]]
    H.check(not others, "no anonymous or refused request: authenticated "
            "with the plugin's client certificate (user kcr-admin)", others[:3])
    inst.stop()


def broken(h):
    """Broken plugins stop the start with a clear error."""
    bad = plugin_dir(h, "broken")
    for name, text in (("garbage", "#!/bin/sh\necho 'hello, not JSON'\n"),
                       ("fail", "#!/bin/sh\necho 'step 1' >&2\n"
                        "echo 'login required: run kcr-login' >&2\nexit 1\n")):
        with open(os.path.join(bad, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(bad, name), 0o755)
    cases = [
        ("garbage", os.path.join(bad, "garbage"), "",
         ["not an ExecCredential", "hello, not JSON"]),
        ("exit 1", os.path.join(bad, "fail"), "",
         ["exited with status 1", "login required: run kcr-login"]),
        ("missing command", "kcr-no-such-plugin",
         "      installHint: install kcr-no-such-plugin from your cloud\n",
         ["kcr-no-such-plugin", "not found",
          "install kcr-no-such-plugin from your cloud"]),
    ]
    for what, command, extra, needles in cases:
        inst = start(h, bad, command=command, extra=extra)
        inst.expect_exit = True
        rc = inst.wait(15)
        log = inst.logs()
        line = next((l for l in log.splitlines()
                     if "cannot configure the Kubernetes client" in l), "")
        print(f"     {what}: exit {rc}: {line[-300:]}")
        H.check(rc == 1, f"{what}: the binary stops with status 1", rc)
        missing = [n for n in [inst.kubeconfig, '"robot"', *needles]
                   if n not in line]
        H.check(not missing, f"{what}: the error names the kubeconfig, the "
                "user and the problem", missing)
        inst.stop()


def body(h):
    expiry(h)
    after_401(h)
    client_cert(h)
    broken(h)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=3)
