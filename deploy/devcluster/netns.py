"""Network-namespace primitives of the dev cluster (Python 3 standard library).

Everything here is a thin, synchronous wrapper around `ip` and the kernel:
create / list / delete namespaces, kill the processes living in them, run a
command inside one, open a socket inside one (setns(2) on a short-lived thread,
so the orchestrator itself never leaves its namespace) and an HTTP(S) client on
such sockets, and the two probes the cluster is judged by: ping and a TCP echo
exchange.
"""

import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
_libc = ctypes.CDLL(None, use_errno=True)


class CommandError(RuntimeError):
    pass


def run(argv, check=True, timeout=30, input=None):
    """Runs argv; -> CompletedProcess (text). Raises CommandError naming the
    command and its stderr when check and it failed."""
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise CommandError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def ip(ns, *args, check=True):
    """`ip -n NS ARGS...` (ns None: the current namespace)."""
    argv = ["ip"] + (["-n", ns] if ns else []) + list(args)
    return run(argv, check=check)


def ip_batch(ns, lines, check=True):
    """Several `ip` commands (without the leading 'ip') in one process."""
    argv = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    return run(argv, check=check, input="\n".join(lines) + "\n")


def exec_argv(ns, argv):
    """argv run inside ns (ip netns exec execs: the pid is argv's own)."""
    return ["ip", "netns", "exec", ns] + list(argv)


def sysctl(ns, key, value):
    run(exec_argv(ns, ["sysctl", "-qw", f"{key}={value}"]))


def list_ns(prefix):
    """Names of the existing namespaces starting with prefix."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def exists(ns):
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def add_ns(ns):
    run(["ip", "netns", "add", ns])
    ip(ns, "link", "set", "lo", "up")


def pids(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def kill_pids(pid_list, sig=signal.SIGKILL):
    for pid in pid_list:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def delete_ns(ns):
    """Kills every process of ns (by pid), then deletes it. Idempotent."""
    if not exists(ns):
        return
    for _ in range(20):
        left = pids(ns)
        if not left:
            break
        kill_pids(left)
        time.sleep(0.05)
    run(["ip", "netns", "del", ns], check=False)


def _in_ns(ns, fn):
    """Runs fn() on a fresh thread that first joined ns; -> fn's result.
    A socket created there stays in ns for its whole life."""
    box = {}

    def work():
        try:
            fd = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, f"setns({ns}): {os.strerror(e)}")
            finally:
                os.close(fd)
            box["v"] = fn()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            box["e"] = e

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


def socket_in(ns, family=socket.AF_INET, kind=socket.SOCK_STREAM):
    """A socket living in ns (None: the current namespace)."""
    if ns is None:
        return socket.socket(family, kind)
    return _in_ns(ns, lambda: socket.socket(family, kind))


def connect_in(ns, host, port, timeout):
    """A TCP connection made from inside ns."""
    s = socket_in(ns)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


class NsClient:
    """One keep-alive HTTP connection (HTTPS with an ssl context) whose socket
    lives in ns; thread-safe (calls are serialized). A connection the server
    closed while idle is reopened once."""

    def __init__(self, ns, host, port, context=None, timeout=10):
        self.ns, self.host, self.port, self.ctx, self.timeout = ns, host, port, context, timeout
        self._conn = None
        self._lock = threading.Lock()

    def _open(self):
        ns, ctx = self.ns, self.ctx
        base = http.client.HTTPSConnection if ctx else http.client.HTTPConnection

        class Conn(base):
            def connect(self):
                s = connect_in(ns, self.host, self.port, self.timeout)
                self.sock = ctx.wrap_socket(s, server_hostname=self.host) if ctx else s

        kw = {"context": ctx} if ctx else {}
        return Conn(self.host, self.port, timeout=self.timeout, **kw)

    def request(self, method, path, body=None, headers=None):
        """-> (status, body bytes); a dict/list body is sent as JSON."""
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        with self._lock:
            for attempt in range(2):
                try:
                    if self._conn is None:
                        self._conn = self._open()
                    self._conn.request(method, path, body=body, headers=h)
                    r = self._conn.getresponse()
                    return r.status, r.read()
                except (OSError, http.client.HTTPException):
                    self.close()
                    if attempt:
                        raise

    def close(self):
        if self._conn:
            self._conn.close()
        self._conn = None


def tcp_echo(ns, host, port=8080, timeout=1.0, payload=b"kcr-probe\n"):
    """True when a TCP connection from ns to host:port echoes payload."""
    try:
        with connect_in(ns, host, port, timeout) as s:
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(len(payload) - len(got))
                if not chunk:
                    break
                got += chunk
            return got == payload
    except OSError:
        return False


def ping(ns, host, count=1, wait=1.0, interval=None):
    """True when `count` ICMP echoes from ns to host all got an answer."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-W", str(wait)]
    if interval:
        argv += ["-i", str(interval)]
    p = run(exec_argv(ns, argv + [host]), check=False, timeout=count * 2 + wait + 5)
    return p.returncode == 0


def ping_lost(text):
    """(replies, lost) of a stopped ping's output: how many icmp_seq were
    answered, and those sent but never answered except the last one sent (it
    may still have been in flight when ping was stopped; the summary line
    counts it as lost)."""
    seqs = {int(m.group(1)) for m in re.finditer(r"icmp_seq=(\d+) ttl=", text)}
    sent = (ping_summary(text) or (max(seqs, default=0), 0))[0]
    return len(seqs), [s for s in range(1, sent) if s not in seqs]


def ping_summary(text):
    """(transmitted, received) from ping's summary line, or None."""
    for line in text.splitlines():
        if "packets transmitted" in line:
            parts = [p.strip() for p in line.split(",")]
            tx = int(parts[0].split()[0])
            rx = int(parts[1].split()[0])
            return tx, rx
    return None


class LoopbackRelay:
    """Listens on 127.0.0.1:port INSIDE ns (port 0: any free one) and forwards
    every connection to target (host, port) in the caller's namespace: a
    process in a namespace cannot reach this one's loopback, where the test's
    API server listens. One thread per direction per connection; close()
    ends the listener and every connection."""

    def __init__(self, ns, target, port=0):
        self.target, self.conns = target, []
        self.sock = socket_in(ns)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                inner, _ = self.sock.accept()
            except OSError:
                return  # closed
            try:
                outer = socket.create_connection(self.target, timeout=10)
            except OSError:
                inner.close()
                continue
            outer.settimeout(None)
            self.conns += [inner, outer]
            for a, b in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        for s in [self.sock] + self.conns:
            s.close()
