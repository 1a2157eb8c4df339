"""Helpers of the standalone-auth tests (exec_plugin_test, proxy_test): the
binary started with a kubeconfig the test writes (exec user, proxy-url,
another server name), and a tiny HTTP CONNECT proxy that counts tunnels."""

import base64
import select
import socket
import threading

import harness as H

# Proxy variables the tests set themselves: an inherited one must not leak
# in (the binary takes an empty value as unset, like Go).
NO_PROXY_ENV = {v: "" for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                "http_proxy", "NO_PROXY", "no_proxy")}


def kubeconfig(server, ca_file, user_yaml, proxy_url=None):
    """kubeconfig text; user_yaml: the lines under `user:` (4 spaces)."""
    cluster = f"    server: {server}\n    certificate-authority: {ca_file}\n"
    if proxy_url:
        cluster += f"    proxy-url: {proxy_url}\n"
    return ("apiVersion: v1\nkind: Config\ncurrent-context: it\n"
            "clusters:\n- name: it\n  cluster:\n" + cluster +
            "users:\n- name: robot\n  user:\n" + user_yaml +
            "contexts:\n- name: it\n  context:\n    cluster: it\n"
            "    user: robot\n")


def start(h, node, text, env=None, **kw):
    """h.instance(...) with the kubeconfig `text` instead of the harness's
    token kubeconfig (its writer is swapped for this one call)."""
    def write(path, *_args, **_kw):
        with open(path, "w") as f:
            f.write(text)
    saved = H.write_kubeconfig
    H.write_kubeconfig = write
    try:
        return h.instance(node, env=dict(NO_PROXY_ENV, **(env or {})), **kw)
    finally:
        H.write_kubeconfig = saved


def ready(inst, timeout, what):
    """Waits until the binary listed the Nodes through the API (its log says
    so; /readyz alone can be 200 before the first check reports) and
    /readyz is 200."""
    _, secs = H.wait_for(lambda: "node_watcher: listed" in inst.logs() and
                         inst.healthz("/readyz")[0] == 200, timeout,
                         f"{what}: Nodes listed and /readyz 200 (the binary "
                         "crashing fails at once)")
    return secs


class ConnectProxy:
    """HTTP CONNECT proxy on 127.0.0.1: records every CONNECT target and its
    Proxy-Authorization, maps `hosts` names to addresses (so a name only the
    proxy knows proves the client went through it), answers 407 without the
    right user:password when `auth` is given, then pipes bytes both ways."""

    def __init__(self, hosts=None, auth=None):
        self.hosts = hosts or {}
        self.auth = ("Basic " + base64.b64encode(auth.encode()).decode()
                     if auth else None)
        self.connects, self.refused = [], []
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def targets(self):
        with self.lock:
            return list(self.connects)

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (l.partition(":") for l in lines[1:])}
            if method != "CONNECT":
                c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n"
                          b"Content-Length: 0\r\n\r\n")
                return
            if self.auth and headers.get("proxy-authorization") != self.auth:
                with self.lock:
                    self.refused.append(target)
                c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                          b"Proxy-Authenticate: Basic realm=\"kcr\"\r\n"
                          b"Content-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            host = host.strip("[]")
            with self.lock:
                self.connects.append(target)
            up = socket.create_connection((self.hosts.get(host, host),
                                           int(port)), timeout=5)
            c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self._pipe(c, up)
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def _pipe(self, a, b):
        a.settimeout(None)
        b.settimeout(None)
        try:
            while not self.closed:
                r, _, _ = select.select([a, b], [], [], 1.0)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        finally:
            b.close()

