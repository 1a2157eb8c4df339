"""e2e: 3 nodes -> every pod reachable from the device (ping + TCP), and the
device was configured from the published ConfigMap with `render` only."""
from e2e_common import all_reachable, check, cl, run


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


run(body, tag="e2reach")
