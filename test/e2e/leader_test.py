"""e2e: the leader killed (SIGKILL) -> another instance leads within the lease
duration; a node added afterwards is published and reachable."""
import time

from e2e_common import all_reachable, check, cl, run, timed


def body(c):
    all_reachable(c)
    leader, holder = c.leader()
    check(leader in c.nodes, f"an instance leads ({holder})")
    renew = (c.lease() or {}).get("spec", {}).get("renewTime")
    t0 = time.monotonic()
    c.kill_instance(leader)
    took = timed(lambda: c.leader()[0] not in (None, leader), 3 * cl.LEASE_SECONDS,
                 "another leader")
    new, holder = c.leader()
    print(f"     killed node-{leader}'s instance (last renew {renew}); node-{new} leads "
          f"({holder}) after {took * 1000:.0f} ms")
    # client-go semantics: a candidate takes over once the lease expired, checking every
    # retry period; the kill may come right after a renew.
    limit = cl.LEASE_SECONDS + cl.RETRY_SECONDS
    check(took <= limit, f"a new leader within the lease duration (+ one retry period) "
          f"{took:.2f} s <= {limit} s")
    i, _ = c.add_node(4)
    pub = timed(lambda: c.published(4), 3, "node-4 published by the new leader")
    reach = timed(lambda: c.tcp_ok(4, 0.2), 3, "pod-4 reachable")
    print(f"     node-4 published in {pub * 1000:.0f} ms, reachable {reach * 1000:.0f} ms later")
    all_reachable(c, [n for n in c.nodes if n != leader] + [leader], timeout=3)


run(body, tag="e2lead")
