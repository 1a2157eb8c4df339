"""The objects in which CNIs keep a node's pod ranges, shaped as the CNIs
write them, for the pod-range tests on the real control plane:

  - Calico IPAM: BlockAffinity (crd.projectcalico.org/v1), one per address
    block affine to a node; the device must route only the confirmed ones.
  - Cilium cluster-pool IPAM: CiliumNode (cilium.io/v2), named as the Node,
    spec.ipam.podCIDRs; older/other modes annotate the Node instead
    (network.cilium.io/ipv4-pod-cidr, ipv6-pod-cidr).
  - OVN-Kubernetes: the Node annotation k8s.ovn.org/node-subnets, JSON, the
    "default" network's subnet as a string or a list of strings.

The CustomResourceDefinitions are in crds/ (install with
cluster.install_crds()). Also: the CNI- value a list of ranges must give.
"""

import ipaddress
import json
import os

import cluster as C

HERE = os.path.dirname(os.path.abspath(__file__))
CRDS = os.path.join(HERE, "crds")
BLOCK_AFFINITY_CRD = os.path.join(CRDS,
                                  "blockaffinities.crd.projectcalico.org.yaml")
CILIUM_NODE_CRD = os.path.join(CRDS, "ciliumnodes.cilium.io.yaml")

# apiVersion, kind -> the collection's path (both cluster-scoped).
COLLECTIONS = {
    ("crd.projectcalico.org/v1", "BlockAffinity"):
        "/apis/crd.projectcalico.org/v1/blockaffinities",
    ("cilium.io/v2", "CiliumNode"): "/apis/cilium.io/v2/ciliumnodes",
}

CILIUM_V4 = "network.cilium.io/ipv4-pod-cidr"
CILIUM_V6 = "network.cilium.io/ipv6-pod-cidr"
OVN_SUBNETS = "k8s.ovn.org/node-subnets"


# --- Nodes -------------------------------------------------------------------------
def node(name, ip, pod_cidrs=(), annotations=None):
    """A Ready Node with one InternalIP, spec.podCIDR(s) when given (first
    one in podCIDR, as the node IPAM controller writes them) and
    annotations."""
    obj = C.node_object(name, ip, None)
    if pod_cidrs:
        obj["spec"] = {"podCIDR": pod_cidrs[0], "podCIDRs": list(pod_cidrs)}
    if annotations:
        obj["metadata"]["annotations"] = dict(annotations)
    return obj


def cilium_annotations(v4=None, v6=None):
    """What the Cilium agent writes on its Node (annotate-k8s-node)."""
    out = {}
    if v4:
        out[CILIUM_V4] = v4
    if v6:
        out[CILIUM_V6] = v6
    return out


def ovn_annotations(*subnets, as_list=False):
    """k8s.ovn.org/node-subnets as ovnkube-master writes it: one subnet as a
    JSON string, several (dual stack) as a JSON list."""
    value = list(subnets) if as_list or len(subnets) > 1 else subnets[0]
    return {OVN_SUBNETS: json.dumps({"default": value},
                                    separators=(",", ":"))}


# --- Calico IPAM --------------------------------------------------------------------
def calico_name(node_name, cidr):
    """Calico's object name: <node>-<cidr with '.', ':' and '/' as '-'>
    (libcalico-go names.CIDRToName on the canonical CIDR)."""
    canon = str(ipaddress.ip_network(cidr))
    return f"{node_name}-" + canon.replace(".", "-").replace(
        ":", "-").replace("/", "-")


def block_affinity(node_name, cidr, state="confirmed", deleted="false"):
    """A BlockAffinity as Calico IPAM keeps it: state confirmed | pending |
    pendingDeletion, deleted the STRING "true"/"false"."""
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
            "metadata": {"name": calico_name(node_name, cidr)},
            "spec": {"cidr": cidr, "deleted": deleted, "node": node_name,
                     "state": state, "type": "host"}}


# --- Cilium ----------------------------------------------------------------------------
def cilium_node(name, ip, pod_cidrs, node_uid=None):
    """A CiliumNode as the Cilium agent creates it (named as its Node, owned
    by it) with the pod ranges the operator allocated (cluster-pool)."""
    first = ipaddress.ip_network(pod_cidrs[0])
    obj = {"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
           "metadata": {"name": name,
                        "labels": {"kubernetes.io/hostname": name}},
           "spec": {"addresses": [
               {"type": "InternalIP", "ip": ip},
               {"type": "CiliumInternalIP",
                "ip": str(first.network_address + 1)}],
               "ipam": {"podCIDRs": list(pod_cidrs)}}}
    if node_uid:
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": name,
             "uid": node_uid}]
    return obj


# --- On the API server (admin) -------------------------------------------------------
def _collection(obj):
    return COLLECTIONS[(obj["apiVersion"], obj["kind"])]


def create(cluster, obj):
    return cluster.api("POST", _collection(obj), obj)


def merge_patch(cluster, obj, patch):
    """A merge patch of `obj` (only its apiVersion, kind and name count)."""
    return cluster.api("PATCH",
                       f"{_collection(obj)}/{obj['metadata']['name']}",
                       patch, ctype="application/merge-patch+json")


def delete(cluster, obj):
    cluster.api("DELETE", f"{_collection(obj)}/{obj['metadata']['name']}")


# --- The published value ------------------------------------------------------------
def first_host(cidr):
    """10.244.1.64/26 -> 10.244.1.65/26 (the CNI- notation)."""
    net = ipaddress.ip_network(cidr)
    return f"{net.network_address + 1}/{net.prefixlen}"


def cni(*cidrs):
    """The CNI- value of a set of ranges: first hosts, sorted by address,
    IPv4 before IPv6, comma-separated."""
    nets = sorted((ipaddress.ip_network(c) for c in cidrs),
                  key=lambda n: (n.version, n.network_address, n.prefixlen))
    return ",".join(first_host(str(n)) for n in nets)
