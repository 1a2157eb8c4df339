"""The requests rbac_real_test.py sends with each account's token: one step
beyond what the controller does (each refused with 403), what the agents may
not do, and what an agent does (allowed)."""

import cluster as C  # test/integration/cluster.py (rbac_real_test.py sets the path)
from manifests_expected import AGENT_SA

NS, NAME, SA_USER = C.NS, C.NAME, C.SA_USER
AGENT_USER = f"system:serviceaccount:{NS}:{AGENT_SA}"
CORE = "/api/v1"
CM = f"{CORE}/namespaces/{NS}/configmaps"
BY_NAME = f"fieldSelector=metadata.name%3D{NAME}"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
NODES = f"{CORE}/nodes"
EVENTS = f"{CORE}/namespaces/default/events"


def event_body(name):
    return {"metadata": {"name": name}, "reason": "RBACProbe",
            "message": "rbac_real_test", "type": "Normal",
            "involvedObject": {"kind": "Node", "name": "node-0000"},
            "source": {"component": "rbac-real-test"}}


# Requests one step beyond what the controller does, with its token:
# (what, method, path, body). Each must be refused with 403.
BEYOND = [
    ("delete its ConfigMap", "DELETE", f"{CM}/{NAME}", None),
    ("update (PUT) its ConfigMap", "PUT", f"{CM}/{NAME}", "CM"),
    ("get another ConfigMap in kube-system", "GET", f"{CM}/other", None),
    ("list every ConfigMap in kube-system", "GET", CM, None),
    ("watch every ConfigMap in kube-system", "GET", CM + "?watch=true&"
     "timeoutSeconds=1", None),
    ("list ConfigMaps cluster-wide", "GET", f"{CORE}/configmaps", None),
    ("get a Node by name", "GET", f"{NODES}/node-0000", None),
    ("update (PUT) a Node", "PUT", f"{NODES}/node-0000", "NODE"),
    ("update (PUT) a Node's status", "PUT", f"{NODES}/node-0000/status",
     "NODE"),
    ("delete a Node", "DELETE", f"{NODES}/node-0000", None),
    ("create a Node", "POST", NODES,
     C.node_object("intruder", "203.0.113.250", "10.250.0.0/24")),
    ("list Secrets in kube-system", "GET", f"{CORE}/namespaces/{NS}/secrets",
     None),
    ("get a Secret", "GET", f"{CORE}/namespaces/{NS}/secrets/any", None),
    ("patch its Lease", "PATCH", f"{LEASES}/{NAME}",
     {"spec": {"holderIdentity": "x"}}),
    ("delete its Lease", "DELETE", f"{LEASES}/{NAME}", None),
    ("get another Lease", "GET", f"{LEASES}/other", None),
    ("list Leases", "GET", LEASES, None),
    ("list Events in default", "GET", EVENTS, None),
    ("create an Event in kube-system", "POST",
     f"{CORE}/namespaces/{NS}/events", event_body("e.1")),
    ("create a ConfigMap in default", "POST",
     f"{CORE}/namespaces/default/configmaps",
     {"metadata": {"name": "x"}, "data": {}}),
    ("list Pods", "GET", f"{CORE}/pods", None),
]

# The agents' token: refused everything of the controller's but Nodes and
# Events, in every form the old tunnel role used (the ConfigMap watch by
# fieldSelector) and the ones a confused agent might try.
AGENT_BEYOND = [
    ("get the ConfigMap", "GET", f"{CM}/{NAME}", None),
    ("list the ConfigMap by fieldSelector", "GET", f"{CM}?{BY_NAME}", None),
    ("watch the ConfigMap by fieldSelector", "GET",
     f"{CM}?{BY_NAME}&watch=true&timeoutSeconds=1", None),
    ("list every ConfigMap in kube-system", "GET", CM, None),
    ("patch the ConfigMap", "PATCH", f"{CM}/{NAME}", {"data": {"x": "y"}}),
    ("create a ConfigMap", "POST", CM,
     {"metadata": {"name": NAME + "-x"}, "data": {}}),
    ("get the Lease", "GET", f"{LEASES}/{NAME}", None),
    ("update (PUT) the Lease", "PUT", f"{LEASES}/{NAME}", "LEASE"),
    ("create a Lease", "POST", LEASES, {"metadata": {"name": "x"},
                                        "spec": {}}),
    ("patch a Node (its annotation)", "PATCH", f"{NODES}/node-0000",
     {"metadata": {"annotations": {
         "kube-chorus-router.io/overlay-ip": "192.168.254.9"}}}),
    ("update (PUT) a Node's status", "PUT", f"{NODES}/node-0000/status",
     "NODE"),
    ("get a Node by name", "GET", f"{NODES}/node-0000", None),
    ("delete a Node", "DELETE", f"{NODES}/node-0000", None),
    ("list Secrets in kube-system", "GET", f"{CORE}/namespaces/{NS}/secrets",
     None),
    ("list Events in default", "GET", EVENTS, None),
    ("create an Event in kube-system", "POST",
     f"{CORE}/namespaces/{NS}/events", event_body("e.2")),
]

# What an agent does, with the agents' token: (what, method, path, body,
# status wanted).
AGENT_ALLOWED = [
    ("list Nodes", "GET", f"{NODES}?limit=1", None, 200),
    ("list its own Node by fieldSelector", "GET",
     f"{NODES}?fieldSelector=metadata.name%3Dnode-0000", None, 200),
    ("watch its own Node by fieldSelector", "GET",
     f"{NODES}?fieldSelector=metadata.name%3Dnode-0000&watch=true"
     "&timeoutSeconds=1", None, 200),
    # Its condition ChorusTunnelReady (an empty patch: authorized the same,
    # the stored conditions stay as they are).
    ("patch a Node's status", "PATCH", f"{NODES}/node-0000/status",
     {"status": {}}, 200),
    ("create an Event in default", "POST", EVENTS,
     event_body("rbac-agent.1"), 201),
    ("patch that Event (count)", "PATCH", f"{EVENTS}/rbac-agent.1",
     {"count": 2}, 200),
]
