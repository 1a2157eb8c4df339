"""e2e: the leader killed (SIGKILL) -> another instance leads within the lease
duration; a node added afterwards is published and reachable. Shape split: two
controller instances, the standby takes over (the agents keep their tunnels);
combined: the node instances compete."""
import time

from e2e_common import all_reachable, check, cl, run, timed


def body(c):
    all_reachable(c)
    leader, holder = c.leader()
    candidates = [cl.controller_name(k) for k in c.controllers] or [cl.node_name(i) for i in c.nodes]
    check(leader in candidates, f"one of {candidates} leads ({holder})")
    renew = (c.lease() or {}).get("spec", {}).get("renewTime")
    c.kill_instance(leader)
    took = timed(lambda: c.leader()[0] not in (None, leader), 3 * cl.LEASE_SECONDS,
                 "another leader")
    new, holder = c.leader()
    print(f"     killed {leader}'s instance (last renew {renew}); {new} leads "
          f"({holder}) after {took * 1000:.0f} ms")
    # client-go semantics: a candidate counts the lease from when it saw the last renew
    # (up to one retry period after it) and checks every retry period; the kill may come
    # right after a renew. Plus 0.3 s for the requests and this test's polling.
    limit = cl.LEASE_SECONDS + 2 * cl.RETRY_SECONDS + 0.3
    check(took <= limit, f"a new leader within the lease duration (+ two retry periods) "
          f"{took:.2f} s <= {limit} s")
    t0 = time.monotonic()
    c.add_node(4)
    pub = timed(lambda: c.published(4), 3, "node-4 published by the new leader")
    reach = timed(lambda: c.tcp_ok(4, 0.2), 3, "pod-4 reachable")
    print(f"     node-4 published in {pub * 1000:.0f} ms, reachable {reach * 1000:.0f} ms later "
          f"({(time.monotonic() - t0) * 1000:.0f} ms after its host was started)")
    # Every pod, the killed leader's node's too: the tunnel stays up without its instance.
    all_reachable(c, timeout=3)


run(body, tag="e2lead", controllers=2)
