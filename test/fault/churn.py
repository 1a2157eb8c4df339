"""Node churn in parallel with the faults: Node objects (no host; the
publisher serves them like any other) added, deleted, moved to a new
InternalIP, given a new pod range, or given a hostile one that the product
must refuse (0.0.0.0/0, a /8, another node's /24, the underlay).

Churn node j (SLOTS of them) lives at 203.0.113.(10+j) or, after a move,
203.0.113.(100+j), with pod range 10.(100+j).v.0/24 (v = 0, 1: ranges of
different nodes never overlap), in the Cilium annotation so that it can change
(spec.podCIDR is immutable on a real API server).
"""

import threading
import time

from observe import CILIUM, MERGE, ApiDown

SLOTS = 8
HOSTILE = ["0.0.0.0/0", "10.0.0.0/8", "10.244.1.0/24", "198.51.100.0/24", "192.168.254.0/25"]


def churn_ip(j, moved):
    return f"203.0.113.{(100 if moved else 10) + j}"


def churn_node(j, rng):
    name = f"churn-{j}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": {CILIUM: f"10.{100 + j}.0.0/24"}},
            "status": {"addresses": [{"type": "InternalIP", "address": churn_ip(j, False)},
                                     {"type": "Hostname", "address": name}]}}


class Churn(threading.Thread):
    """One operation every 0.3-1.5 s (seeded); each under `lock`, which the
    exact-state check holds while it reads the Nodes and the ConfigMap."""

    def __init__(self, api, rng, lock):
        super().__init__(daemon=True)
        self.api, self.rng, self.lock = api, rng, lock
        self.stop, self.pause = threading.Event(), threading.Event()
        self.live = {}  # slot -> {"moved": bool, "range": str}
        self.counts, self.failed = {}, 0

    def run(self):
        while not self.stop.wait(self.rng.uniform(0.3, 1.5)):
            if self.pause.is_set():
                continue
            op = self.pick()
            with self.lock:
                try:
                    op()
                    self.counts[op.__name__] = self.counts.get(op.__name__, 0) + 1
                except ApiDown:
                    self.failed += 1  # the API server is down or cut: a fault's doing

    def pick(self):
        free = [j for j in range(SLOTS) if j not in self.live]
        if not self.live:
            return self.add
        choices = [self.delete, self.move, self.new_range, self.hostile_range]
        if free:
            choices += [self.add, self.add]
        return self.rng.choice(choices)

    def add(self):
        j = self.rng.choice([j for j in range(SLOTS) if j not in self.live])
        self.api.call("POST", "/api/v1/nodes", churn_node(j, self.rng), ok=(201, 409))
        self.live[j] = {"moved": False, "range": f"10.{100 + j}.0.0/24"}

    def delete(self):
        j = self.rng.choice(sorted(self.live))
        self.api.call("DELETE", f"/api/v1/nodes/churn-{j}", ok=(200, 202, 404))
        del self.live[j]

    def move(self):
        j = self.rng.choice(sorted(self.live))
        moved = not self.live[j]["moved"]
        self.api.call("PATCH", f"/api/v1/nodes/churn-{j}/status", {"status": {"addresses": [
            {"type": "InternalIP", "address": churn_ip(j, moved)},
            {"type": "Hostname", "address": f"churn-{j}"}]}}, ctype=MERGE)
        self.live[j]["moved"] = moved

    def set_range(self, j, rng):
        self.api.call("PATCH", f"/api/v1/nodes/churn-{j}",
                      {"metadata": {"annotations": {CILIUM: rng}}}, ctype=MERGE)
        self.live[j]["range"] = rng

    def new_range(self):
        j = self.rng.choice(sorted(self.live))
        v = 1 if self.live[j]["range"] == f"10.{100 + j}.0.0/24" else 0
        self.set_range(j, f"10.{100 + j}.{v}.0/24")

    def hostile_range(self):
        self.set_range(self.rng.choice(sorted(self.live)), self.rng.choice(HOSTILE))

    def drain(self, timeout=30):
        """Stops the thread (no operation runs once it returns)."""
        self.stop.set()
        self.join(timeout)
        time.sleep(0)
