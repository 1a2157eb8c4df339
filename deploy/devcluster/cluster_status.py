"""What the dev cluster looks like now (a mixin of cluster.Cluster): the API
objects, what the device applied, and the pods' reachability from the device."""

import json

import netns
from cluster_topology import POD_PORT, node_ip, node_name, pod_ip, wait_for


class StatusMixin:
    # ---- the API objects ----------------------------------------------------------
    def node_list(self):
        """{name: Node} of every Node object."""
        return {n["metadata"]["name"]: n for n in self.apiserver.nodes()}

    def configmap(self):
        """The published ConfigMap, or None."""
        return self.apiserver.configmap()

    def cm_data(self):
        cm = self.configmap()
        return (cm or {}).get("data") or {}

    def overlay_ip(self, i, data=None):
        data = self.cm_data() if data is None else data
        return data.get(f"Interface-{node_ip(i)}")

    def published(self, i, data=None):
        """Node i's entry is complete in the ConfigMap (Node- is written last)."""
        data = self.cm_data() if data is None else data
        return bool(data.get(f"Node-{node_ip(i)}")) and bool(self.overlay_ip(i, data))

    def lease(self):
        return self.apiserver.lease()

    def leader(self):
        """(instance name, holder identity) of the Lease holder, or (None, None);
        the identity is <--hostname-override>_<random>."""
        lease = self.lease() or {}
        holder = (lease.get("spec") or {}).get("holderIdentity") or ""
        name = holder.split("_")[0]
        return (name if name in self.instances() else None), holder or None

    # ---- the device ----------------------------------------------------------------
    def device_applied(self):
        """{resourceVersion, data, applied_at} of what the device applied, or None."""
        try:
            with open(self.path("device", "applied.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def device_in_sync(self):
        cm, st = self.configmap(), self.device_applied()
        return bool(cm and st and (cm.get("data") or {}) == st["data"])

    def configure_device(self, timeout=10):
        """Waits until the device runs the current ConfigMap (device_sync.py
        applies `render` output); -> seconds waited."""
        return wait_for(self.device_in_sync, timeout, "the device to apply the ConfigMap")[1]

    def device_routes(self):
        return netns.ip(self.dev, "route", "show", "dev", "kcrdev0", check=False).stdout

    # ---- reachability --------------------------------------------------------------
    def tcp_ok(self, i, timeout=1.0):
        return netns.tcp_echo(self.dev, pod_ip(i), POD_PORT, timeout)

    def ping_ok(self, i, count=1, wait=1.0):
        return netns.ping(self.dev, pod_ip(i), count=count, wait=wait)

    def reachable(self, i, timeout=0.3):
        return self.tcp_ok(i, timeout) and self.ping_ok(i, wait=timeout + 0.2)

    def wait_reachable(self, i, timeout):
        return wait_for(lambda: self.tcp_ok(i, 0.2) and self.ping_ok(i, wait=0.5), timeout,
                        f"pod-{i} ({pod_ip(i)}) to answer ping and TCP from the device")[1]

    def wait_converged(self, timeout=30, reachable=True):
        """Every node published, the device in sync and every pod reachable."""
        wait_for(lambda: all(self.published(i) for i in self.nodes), timeout,
                 "every node in the ConfigMap")
        self.configure_device(timeout)
        for i in self.nodes if reachable else []:
            self.wait_reachable(i, timeout)

    def reachability(self):
        """Rows (pod, node, overlay IP, ping ok, tcp ok) for every node."""
        data = self.cm_data()
        return [(f"pod-{i} {pod_ip(i)}", node_name(i), self.overlay_ip(i, data) or "-",
                 self.ping_ok(i), self.tcp_ok(i)) for i in sorted(self.nodes)]


def format_table(rows):
    head = ("pod", "node", "overlay IP", "ping", "tcp")
    cells = [head] + [(a, b, c, "ok" if d else "FAIL", "ok" if e else "FAIL")
                      for a, b, c, d, e in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(5)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)

