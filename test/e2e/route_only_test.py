"""e2e (issue 17): route-only mode, --overlay-type none. The device sits on the
nodes' underlay bridge and routes each pod range via its node's IP, configured
from the published ConfigMap by `render` only (deploy/devcluster/device_sync.py).

1. A cluster started in route-only mode: Type NONE, no Mac-/VNID/Port keys, no
   tunnel on any node, device routes `10.244.<i>.0/24 via <node IP>`, every pod
   answers ping and TCP from the device.
2. The running cluster switched to VXLAN (every instance restarted without the
   flag): tunnels built, the device's routes go via the overlay, pods reachable.
3. Switched back to none: the old tunnels removed from every node, the device's
   tunnel and overlay routes gone, routes via node IPs, pods reachable."""
from e2e_common import all_reachable, check, cl, run, timed
from issue17_common import restart_all, routes, tunnel_links

NONE = ["--overlay-type", "none"]


def check_route_only(c, what):
    data = c.cm_data()
    check(data.get("Type") == "NONE", f"{what}: the ConfigMap says Type NONE", data.get("Type"))
    extra = sorted(k for k in data if k.startswith("Mac-") or k in ("VNID", "Port"))
    check(not extra, f"{what}: no Mac-, VNID or Port keys", str(extra))
    check(all(c.published(i, data) for i in c.nodes),
          f"{what}: every node published (Node-, Interface-, CNI- keys)")
    took = timed(lambda: all(not tunnel_links(c, i) for i in c.nodes), 10,
                 "no tunnel of ours on any node")
    print(f"     no tunnel on any node after {took * 1000:.0f} ms")
    for i in c.nodes:
        check(not tunnel_links(c, i), f"{what}: node-{i} has no tunnel interface")
    c.configure_device(timeout=10)
    dev_routes = routes(c.dev)
    print("     device routes:\n" + "\n".join(f"       {r}" for r in dev_routes.splitlines()))
    for i in c.nodes:
        want = f"10.244.{i}.0/24 via {cl.node_ip(i)} dev eth0"
        check(want in dev_routes, f"{what}: device route {want}")
    check("kcrdev0" not in cl.netns.ip(c.dev, "link", "show").stdout,
          f"{what}: the device has no tunnel interface")
    all_reachable(c)


def check_vxlan(c, what):
    took = timed(lambda: c.cm_data().get("Type") == "VXLAN", 15, "Type VXLAN published")
    print(f"     Type VXLAN published after {took * 1000:.0f} ms")
    timed(lambda: all(tunnel_links(c, i) == ["routervxlan0"] for i in c.nodes), 15,
          "routervxlan0 on every node")
    c.configure_device(timeout=10)
    data = c.cm_data()
    dev_routes = routes(c.dev)
    for i in c.nodes:
        want = f"10.244.{i}.0/24 via {c.overlay_ip(i, data)} dev kcrdev0"
        check(want in dev_routes, f"{what}: device route {want}")
        check(f"via {cl.node_ip(i)} " not in dev_routes,
              f"{what}: no route via node-{i}'s underlay IP left")
    all_reachable(c)


def body(c):
    check_route_only(c, "started with --overlay-type none")
    overlays = {i: c.overlay_ip(i) for i in c.nodes}
    restart_all(c, [])
    check_vxlan(c, "switched none -> VXLAN")
    check({i: c.overlay_ip(i) for i in c.nodes} == overlays,
          "the overlay addresses kept across the switch (the pool still allocates)", str(overlays))
    restart_all(c, NONE)
    check_route_only(c, "switched VXLAN -> none")


run(body, tag="e2ronly", nodes=3, extra_args=NONE)
