"""Synthetic Node objects for `--seed-nodes` and `POST /nodes/bulk`.

Each generated node has a unique uid, an InternalIP from 198.18.0.0/15 (the
RFC 2544 benchmarking range: only data, never contacted) and a unique pod
CIDR 10.<a>.<b>.0/24, shaped like a kubelet-registered node."""

import ipaddress
import threading

_BENCH_NET = ipaddress.ip_network("198.18.0.0/15")
_MAX = 65536  # distinct 10.a.b.0/24 pod CIDRs


class NodeGenerator:
    def __init__(self):
        self._lock = threading.Lock()
        self._next = 0  # generator index, unique across calls

    def make(self, count, prefix="node-", exists=lambda name: False):
        out = []
        with self._lock:
            width = max(4, len(str(self._next + count - 1)))
            while len(out) < count:
                i = self._next
                if i >= _MAX:
                    raise ValueError(f"at most {_MAX} generated nodes")
                self._next += 1
                name = f"{prefix}{i:0{width}d}"
                if not exists(name):
                    out.append(node(name, i))
        return out


def node(name, i):
    ip = str(_BENCH_NET.network_address + 1 + i)
    cidr = f"10.{i // 256}.{i % 256}.0/24"
    return {
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64",
                       "beta.kubernetes.io/os": "linux",
                       "beta.kubernetes.io/arch": "amd64"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                            "lastTransitionTime": "2025-01-01T00:00:00Z"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0",
                         "kubeProxyVersion": "v1.32.0",
                         "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://1.7.22",
                         "kernelVersion": "6.1.0-fake",
                         "osImage": "Debian GNU/Linux 12 (bookworm)"},
        },
    }
