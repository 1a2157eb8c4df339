"""The hosts of the dev cluster (a mixin of cluster.Cluster): the underlay,
the API host, the device, node hosts with their pod, controller hosts, and the
Node objects of the nodes."""

import base64
import os
import sys
import time

import netns
from apihost import API_IP
from cluster_topology import (DEVICE_IP, ECHO, controller_ip, controller_name, node_ip, node_name,
                              pod_ip)

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE_SYNC = os.path.join(HERE, "device_sync.py")


class HostsMixin:
    # ---- hosts ----------------------------------------------------------------
    def _host_leg(self, ns, peer, addr):
        """A veth from bridge br0 of the underlay to eth0 of ns with addr."""
        netns.ip(self.ul, "link", "add", "name", peer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        netns.ip(self.ul, "link", "set", peer, "master", "br0", "up")
        netns.ip_batch(ns, [f"addr add {addr}/24 dev eth0", "link set eth0 up"])

    def _underlay(self):
        netns.add_ns(self.ul)
        netns.ip_batch(self.ul, ["link add br0 type bridge", "link set br0 up"])

    def _api_host(self):
        netns.add_ns(self.api)
        self._host_leg(self.api, "v-api", API_IP)
        self.apiserver.start()

    def _device_host(self):
        netns.add_ns(self.dev)
        self._host_leg(self.dev, "v-dev", DEVICE_IP)
        a = self.apiserver
        self.spawn("device-sync", self.dev,
                   [sys.executable, DEVICE_SYNC, "--api", a.server, "--ca", a.ca_file,
                    "--token-file", a.device_token_file, "--binary", self.binary,
                    "--state-dir", self.path("device"),
                    *[f"--render-arg={x}" for x in self.device_args]],
                   "device.log")

    def kubeconfig(self, name, role):
        """Instance `name`'s kubeconfig: the CA and a bearer token of its own,
        of the ServiceAccount of `role` (controller or agent)."""
        with open(self.apiserver.ca_file, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        path = self.path(f"kubeconfig-{name}")
        with open(path, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
clusters:
- name: devcluster
  cluster:
    server: {self.apiserver.server}
    certificate-authority-data: {ca}
users:
- name: kube-chorus-router
  user:
    token: {self.apiserver.role_token(role)}
contexts:
- name: devcluster
  context: {{cluster: devcluster, user: kube-chorus-router}}
current-context: devcluster
""")
        return path

    def add_host(self, i):
        """Node host i with its pod: namespaces, links, the pod's listener."""
        n, p = self.node_ns(i), self.pod_ns(i)
        netns.add_ns(n)
        self._host_leg(n, f"v-n{i}", node_ip(i))
        netns.sysctl(n, "net.ipv4.ip_forward", 1)
        netns.add_ns(p)
        netns.ip_batch(n, ["link add cni0 type bridge", f"addr add 10.244.{i}.1/24 dev cni0",
                           "link set cni0 up",
                           f"link add veth-pod{i} type veth peer name eth0 netns {p}",
                           f"link set veth-pod{i} master cni0 up"])
        netns.ip_batch(p, [f"addr add {pod_ip(i)}/24 dev eth0", "link set eth0 up",
                           f"route add default via 10.244.{i}.1"])
        self.spawn(f"pod-{i}", p, [sys.executable, "-c", ECHO], f"pod-{i}.log")

    def add_controller(self, k):
        """Controller host k (shape split): a namespace on the underlay and the
        binary as the controller in it."""
        netns.add_ns(self.ctl_ns(k))
        self._host_leg(self.ctl_ns(k), f"v-c{k}", controller_ip(k))
        self.controllers.append(k)
        self.start_instance(controller_name(k))

    # ---- nodes -------------------------------------------------------------------
    def node_object(self, i):
        cidr = f"10.244.{i}.0/24"
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": node_name(i),
                             "labels": {"kubernetes.io/hostname": node_name(i)},
                             "annotations": {"devcluster/created-at": repr(time.time())}},
                "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
                "status": {"addresses": [{"type": "InternalIP", "address": node_ip(i)},
                                         {"type": "Hostname", "address": node_name(i)}],
                           "conditions": [{"type": "Ready", "status": "True"}]}}

    def next_index(self):
        return max(self.nodes, default=0) + 1

    def add_node(self, i=None, create_object=True):
        """Host + instance of node i (default: the next free index), then its
        Node object; -> (i, monotonic time the Node was created)."""
        i = i or self.next_index()
        self.add_host(i)
        self.start_instance(node_name(i))
        self.nodes.append(i)
        t0 = None
        if create_object:
            t0 = self.create_node_object(i)
        self._save_state()
        return i, t0

    def create_node_object(self, i):
        obj = self.node_object(i)
        t0 = time.monotonic()
        self.apiserver.create_node(obj)
        return t0

    def delete_node(self, i, remove_host=True):
        """Deletes the Node object (-> its monotonic time), then the host."""
        t0 = time.monotonic()
        self.apiserver.delete_node(node_name(i))
        if remove_host:
            self.remove_host(i)
        return t0

    def remove_host(self, i):
        if netns.exists(self.node_ns(i)):
            self.stop_instance(i)
        self.procs.pop(f"pod-{i}", None)
        netns.delete_ns(self.pod_ns(i))
        netns.delete_ns(self.node_ns(i))
        if i in self.nodes:
            self.nodes.remove(i)
        self._save_state()
