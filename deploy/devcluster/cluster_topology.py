"""Names, addresses and small helpers of the dev cluster (cluster.py's
topology, held once): which namespace, address and pod each host gets, and the
polling and in-namespace HTTP helpers every part of the cluster uses."""

import time

import netns

UNDERLAY, DEVICE_IP = "198.51.100", "198.51.100.1"
OVERLAY = "192.168.254.0/24"
POD_PORT = 8080
ECHO = """
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d)); s.listen(64)
def serve(c):
    with c:
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
""" % POD_PORT


def node_ip(i):
    return f"{UNDERLAY}.{10 + i}"


def pod_ip(i):
    return f"10.244.{i}.10"


def node_name(i):
    return f"node-{i}"


def controller_ip(k):
    return f"{UNDERLAY}.{2 + k}"


def controller_name(k):
    return f"controller-{k}"


MAX_CONTROLLERS = 7  # 198.51.100.3 .. .9: below the node hosts


def wait_for(pred, timeout, what, interval=0.02):
    """Polls pred() until truthy; -> (value, seconds). Exceptions = not yet."""
    t0 = time.monotonic()
    err = None
    while True:
        try:
            v = pred()
            if v:
                return v, time.monotonic() - t0
        except Exception as e:  # noqa: BLE001 - 'not yet'
            err = e
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}"
                               + (f" (last error: {err})" if err else ""))
        time.sleep(interval)


def ns_http(ns, host, port, method, path, body=None, timeout=10):
    """One plain HTTP call from inside ns; -> (status, body text)."""
    c = netns.NsClient(ns, host, port, timeout=timeout)
    try:
        status, body = c.request(method, path, body)
        return status, body.decode()
    finally:
        c.close()
