"""e2e: 3 nodes -> every pod reachable from the device (ping + TCP), and the
device was configured from the published ConfigMap with `render` only. Shape
split: every Node carries its ConfigMap address as the annotation its agent
converges from. On the real control plane: the instances and the device run
with least privilege."""
from e2e_common import all_reachable, check, cl, run

CM = cl.apihost.CM_PATH
ANNOTATION = "kube-chorus-router.io/overlay-ip"


def least_privilege(c):
    """What the shipped RBAC (controller, agents) and the device's Role refuse."""
    api = c.apiserver
    ctl = api.role_token("controller")
    rows = [("the controller", ctl, "GET", "/api/v1/namespaces/kube-system/secrets", 403),
            ("the controller", ctl, "DELETE", CM, 403),
            ("the controller", ctl, "GET", "/api/v1/namespaces/default/configmaps", 403)]
    if c.shape == "split":
        agent = api.role_token("agent")
        rows += [("an agent", agent, "GET", CM, 403),
                 ("an agent", agent, "GET", cl.apihost.LEASE_PATH, 403),
                 ("an agent", agent, "GET", "/api/v1/nodes?fieldSelector=metadata.name%3Dnode-1",
                  200)]
    with open(api.device_token_file) as f:
        device = f.read().strip()
    rows += [("the device", device, "GET", CM, 200),
             ("the device", device, "GET", "/api/v1/nodes", 403),
             ("the device", device, "PATCH", CM, 403)]
    for who, token, method, path, want in rows:
        got = api.status_as(token, method, path)
        check(got == want, f"{who}: {method} {path} -> {want}", f"got {got}")


def body(c):
    data = c.cm_data()
    overlays = [c.overlay_ip(i, data) for i in c.nodes]
    print(f"     overlay IPs: {overlays}")
    check(all(c.published(i, data) for i in c.nodes), "every node is published in the ConfigMap")
    check(len(set(overlays)) == len(overlays), "overlay IPs are distinct", str(overlays))
    check(c.device_in_sync(), "the device applied the current ConfigMap (render output)")
    routes = c.device_routes()
    for i in c.nodes:
        want = f"10.244.{i}.0/24 via {c.overlay_ip(i, data)}"
        check(want in routes, f"device route {want} dev kcrdev0")
    all_reachable(c)
    if c.shape == "split":  # what the agents converged from
        nodes = c.node_list()
        for i in c.nodes:
            got = nodes[cl.node_name(i)]["metadata"].get("annotations", {}).get(ANNOTATION)
            check(got == c.overlay_ip(i, data), f"node-{i} annotated {ANNOTATION}: {got}",
                  f"the ConfigMap says {c.overlay_ip(i, data)}")
    if c.apiserver.kind == "real":
        least_privilege(c)


run(body, tag="e2reach")
