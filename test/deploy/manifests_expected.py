"""What deploy/kubernetes must hold (manifests_test.py; helm_test.py holds the
chart to the same): names, the image, ports, each workload's role flag and
the settings with a validator each. The grant tables: manifests_rbac.py."""

import ipaddress
import os
import subprocess

from deploycheck import SOURCE_DIR

MAIN_DIR = os.path.join(SOURCE_DIR, "deploy", "kubernetes")
CLEANUP_DIR = os.path.join(MAIN_DIR, "cleanup")

NAME = "kube-chorus-router"
NAMESPACE = "kube-system"
SETTINGS = "kube-chorus-router-settings"
# The version's one source (deploy/set-version.sh writes it out to the manifests).
IMAGE = "kube-chorus-router:" + subprocess.run(
    [os.path.join(SOURCE_DIR, "deploy", "set-version.sh")], capture_output=True, text=True,
    check=True).stdout.strip()
HEALTH_PORT = 20264
METRICS_PORT = 20265
CONTROLLER = NAME + "-controller"  # the Deployment (publisher role)
AGENT_SA = NAME + "-agent"
# ServiceAccount name -> what runs as it. The controller's account keeps the
# project's name: a single process running both roles uses it too.
ACCOUNTS = {NAME: "controller", AGENT_SA: "agent"}
# Each workload's role flag: the other role is switched off.
ROLE_ARGS = {"controller": ["--run-tunnel=false"], "agent": ["--run-publisher=false"]}
ROLE_VARS = ("KCR_RUN_PUBLISHER", "KCR_RUN_TUNNEL")


# Settings the issue requires in the settings ConfigMap, with a validator each.
def _cidr(v):
    n = ipaddress.ip_network(v, strict=True)
    return n.version == 4 and 8 <= n.prefixlen <= 30


def _int_in(lo, hi):
    return lambda v: v.isdigit() and lo <= int(v) <= hi


REQUIRED_SETTINGS = {
    "NETWORK": _cidr,
    # One device VTEP or several (VXLAN), comma-separated.
    "REMOTE_VTEPIP": lambda v: all(ipaddress.ip_address(x) is not None for x in v.split(",")),
    "TYPE": lambda v: v in ("vxlan", "ipip", "none"),
    "VNID": _int_in(1, 16777215),
    "VXLAN_PORT": _int_in(1, 65535),
    "KCR_LOG_FORMAT": lambda v: v == "json",
}

