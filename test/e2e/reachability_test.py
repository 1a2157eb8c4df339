"""e2e: 3 nodes -> every pod reachable from the device (ping + TCP), and the
device was configured from the published ConfigMap with `render` only. On the
real control plane: the instances and the device run with least privilege."""
from e2e_common import all_reachable, check, cl, run

CM = cl.apihost.CM_PATH


def least_privilege(api):
    """What the shipped RBAC (instances) and the device's Role refuse."""
    node = api.node_token(1)
    with open(api.device_token_file) as f:
        device = f.read().strip()
    for who, token, method, path, want in [
            ("an instance", node, "GET", "/api/v1/namespaces/kube-system/secrets", 403),
            ("an instance", node, "DELETE", CM, 403),
            ("an instance", node, "GET", "/api/v1/namespaces/default/configmaps", 403),
            ("the device", device, "GET", CM, 200),
            ("the device", device, "GET", "/api/v1/nodes", 403),
            ("the device", device, "PATCH", CM, 403)]:
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
    if c.apiserver.kind == "real":
        least_privilege(c.apiserver)


run(body, tag="e2reach")
