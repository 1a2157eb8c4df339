"""The external device's automation in the dev cluster.

Runs INSIDE the device namespace, as a vendor's automation would run on the
device: it reads the published ConfigMap from the API server over the underlay
(HTTPS, the CA and a bearer token), every --interval seconds, and whenever the
data changed it applies the output of

    kube-chorus-router render --target linux -f NEW          (first time)
    kube-chorus-router render --target linux --diff OLD -f NEW   (afterwards)

line by line with `sh` (a failing line is logged, the others still run). The
device is configured by `render` output only. After each apply it writes
STATE_DIR/applied.json = {"resourceVersion", "data", "applied_at"} so the
orchestrator knows which version the device runs.
"""

import argparse
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time


def log(msg):
    print(time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d} {msg}", flush=True)


class Api:
    def __init__(self, url, ca, token_file):
        assert url.startswith("https://")
        hostport = url[len("https://"):].rstrip("/")
        self.host, _, port = hostport.rpartition(":")
        self.port = int(port)
        self.ctx = ssl.create_default_context(cafile=ca)
        self.token_file = token_file
        self.conn = None

    def get(self, path):
        """-> (status, parsed body or None); reconnects on any error."""
        with open(self.token_file) as f:
            token = f.read().strip()
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                                            timeout=5)
                self.conn.request("GET", path, headers={"Authorization": f"Bearer {token}",
                                                        "Accept": "application/json"})
                r = self.conn.getresponse()
                body = r.read()
                return r.status, (json.loads(body) if body else None)
            except (OSError, http.client.HTTPException, ValueError):
                if self.conn:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def apply(binary, old_path, new_path, first, render_args=()):
    """Renders and runs the commands; -> (commands run, failed lines)."""
    argv = [binary, "render", "--target", "linux", "-f", new_path, *render_args]
    if not first:
        argv += ["--diff", old_path]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"render failed ({r.returncode}): {r.stderr.strip()}")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    failed = []
    for ln in lines:
        p = subprocess.run(["sh", "-c", ln], capture_output=True, text=True)
        if p.returncode != 0:
            failed.append(f"{ln}: {p.stderr.strip()}")
    return lines, failed


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--binary", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--namespace", default="kube-system")
    p.add_argument("--name", default="kube-chorus-router")
    p.add_argument("--render-arg", action="append", default=[],
                   help="one more argument for render, e.g. --render-arg=--local-ip=IP "
                        "(a device of several, issue 17)")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.makedirs(a.state_dir, exist_ok=True)
    old_path = os.path.join(a.state_dir, "applied-cm.json")
    new_path = os.path.join(a.state_dir, "new-cm.json")
    status_path = os.path.join(a.state_dir, "applied.json")
    api = Api(a.api, a.ca, a.token_file)
    path = f"/api/v1/namespaces/{a.namespace}/configmaps/{a.name}"
    applied = None  # data of the applied ConfigMap
    last_error = None
    log(f"device sync: following {a.api}{path} every {a.interval * 1000:.0f} ms")
    while True:
        try:
            status, cm = api.get(path)
            if status == 200 and (cm.get("data") or {}) != applied:
                data = cm.get("data") or {}
                write_json(new_path, cm)
                t0 = time.monotonic()
                lines, failed = apply(a.binary, old_path, new_path, applied is None,
                                      a.render_arg)
                ms = (time.monotonic() - t0) * 1000
                os.replace(new_path, old_path)
                applied = data
                rv = cm["metadata"].get("resourceVersion")
                write_json(status_path, {"resourceVersion": rv, "data": data,
                                         "applied_at": time.time()})
                log(f"applied resourceVersion {rv}: {len(lines)} commands in {ms:.0f} ms")
                for ln in lines:
                    log(f"  {ln}")
                for f in failed:
                    log(f"  FAILED {f}")
                last_error = None
            elif status not in (200, 404) and last_error != status:
                last_error = status
                log(f"GET {path}: HTTP {status}: {cm}")
        except Exception as e:  # noqa: BLE001 - the device keeps following
            if str(e) != last_error:
                last_error = str(e)
                log(f"error: {e}")
        time.sleep(a.interval)


if __name__ == "__main__":
    main()
