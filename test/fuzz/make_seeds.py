#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (corpus/<target>/) from the repository's test data.

Run from anywhere: python3 test/fuzz/make_seeds.py. The output is checked in; rerun it when the
test data it reads changes. run.sh also hands test/kube/data to fuzz_node directly.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def read_json(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return json.load(f)


def watch_seeds():
    nodes = [read_json("test", "kube", "data", n) for n in ("k3s-node.json", "calico-node.json")]
    lines = [json.dumps({"type": "ADDED", "object": n}) for n in nodes]
    lines.append(json.dumps({"type": "MODIFIED", "object": nodes[0]}, indent=1))
    lines.append(json.dumps({"type": "BOOKMARK", "object": {
        "kind": "Node", "apiVersion": "v1", "metadata": {
            "resourceVersion": "12345",
            "annotations": {"k8s.io/initial-events-end": "true"}}}}))
    lines.append(json.dumps({"type": "DELETED", "object": nodes[1]}))
    lines.append(json.dumps({"type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
        "reason": "Expired", "message": "too old resource version: 1 (2)"}}))
    body = "\n".join(lines) + "\n"
    # First byte: number of cuts; then one length byte per cut.
    write("fuzz_watch_decoder", "events-whole", bytes([0]) + body.encode())
    write("fuzz_watch_decoder", "events-cut", bytes([5, 1, 7, 200, 13, 255]) + body.encode())
    write("fuzz_watch_decoder", "error-only", bytes([2, 3, 30]) + lines[-1].encode() + b"\r\n")


def configmap_data(name):
    """A ConfigMap's data: the files hold either a whole ConfigMap or just its data."""
    obj = read_json("test", "app", "data", name)
    return obj.get("data", {}) if obj.get("kind") == "ConfigMap" else obj


def configmap_lines(data):
    return "".join(f"{k}={v}\n" for k, v in data.items())


def configmap_seeds():
    for name in ("seed-configmap.json", "seed-third-node.json", "ipip-configmap.json",
                 "vxlan-device.json", "vxlan-device-changed.json"):
        write("fuzz_configmap_codec", name.replace(".json", ""),
              configmap_lines(configmap_data(name)))
    before = configmap_data("seed-configmap.json")
    after = configmap_data("seed-third-node.json")
    write("fuzz_configmap_codec", "edit-seed-to-third-node",
          configmap_lines(before) + "---\n" + configmap_lines(after))
    ipv6 = {"EndpointIP": "fd00:ff::1", "Type": "VXLAN", "Network": "fd00:ff::/64",
            "VNID": "7", "Port": "4789", "RemoteVTEP": "192.0.2.10",
            "Host-uid-6": "fd00::1", "Interface-fd00__1": "fd00:ff::10",
            "Mac-fd00__1": "0a:58:00:00:00:10", "CNI-fd00__1": "fd00:244:1::1/64,10.244.9.1/24",
            "Name-fd00__1": "node-v6", "Node-fd00__1": "fd00::1", "vendor.example/x": "foreign"}
    write("fuzz_configmap_codec", "ipv6-and-foreign", configmap_lines(ipv6))


def kubeconfig_seeds():
    write("fuzz_kubeconfig", "two-contexts", """apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=
    tls-server-name: api.internal
    proxy-url: http://user:pw@[fd00::9]:3128
- name: dev-cluster
  cluster:
    server: https://[fd00::1]:8443/proxy/
    insecure-skip-tls-verify: true
contexts:
- name: prod
  context: {cluster: prod-cluster, user: admin, namespace: kube-system}
- name: dev
  context: {cluster: dev-cluster, user: dev}
users:
- name: admin
  user:
    token: abc
- name: dev
  user:
    tokenFile: token
""")
    write("fuzz_kubeconfig", "client-cert", """current-context: x
contexts: [{name: x, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'http://h:8080', certificate-authority: ca.crt}}]
users: [{name: u, user: {client-certificate-data: LS0t, client-key-data: LS0t}}]
""")


def node_seeds():
    """Nodes whose pod ranges come from each source (test/kube/data holds whole real Nodes)."""
    meta = {"name": "n1", "uid": "u1", "resourceVersion": "7", "annotations": {
        "network.cilium.io/ipv4-pod-cidr": "10.0.1.0/24",
        "network.cilium.io/ipv6-pod-cidr": "fd00:1::/64",
        "k8s.ovn.org/node-subnets": json.dumps({"default": ["10.128.1.0/23", "fd00:2::/64"]}),
        "flannel.alpha.coreos.com/public-ip": "192.0.2.7",
        "projectcalico.org/IPv4Address": "192.0.2.8/24"}}
    node = {"kind": "Node", "apiVersion": "v1", "metadata": meta,
            "spec": {"podCIDR": "10.244.1.5/24", "podCIDRs": ["10.244.1.5/24", "fd00::/64"],
                     "unschedulable": True,
                     "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.9"},
                                     {"type": "InternalIP", "address": "fd00::9"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    write("fuzz_node", "all-sources", json.dumps(node))
    write("fuzz_node", "annotations-only", json.dumps({"metadata": meta}))


def small_seeds():
    for i, d in enumerate(("1h30m", "500ms", "90s", "0s", "2h0m1s", "1000000000ms")):
        write("fuzz_duration", f"seed-{i}", d)
    argv = ["--overlay-network=192.168.254.0/24", "--remote-vtep=192.0.2.10", "--overlay-type",
            "IPIP", "--endpoint-ip", "192.168.254.1", "--vni", "16777215", "--vxlan-port", "8472",
            "--tunnel-mtu", "1400", "--config-sync-period", "1m30s", "--tunnel-sync-period",
            "500ms", "--run-publisher=false", "--leader-elect=false", "--remote-vtep-mac",
            "02:42:C6:33:64:01", "--log-format", "json", "--health-addr", "[::1]:8080",
            "--metrics-addr", "", "--pod-cidr-source", "calico-ipam", "--pod-network",
            "10.244.0.0/16,fd00:10:244::/56"]
    write("fuzz_options", "full", "\0".join(argv))
    write("fuzz_options", "help", "--help")
    write("fuzz_options", "version", "--version")


if __name__ == "__main__":
    watch_seeds()
    configmap_seeds()
    kubeconfig_seeds()
    node_seeds()
    small_seeds()
