"""Integration 13: IPv6 and dual-stack Nodes. An IPv6 node IP appears in keys
with ':' replaced by '_' (ConfigMap keys allow [-._a-zA-Z0-9] only; a ':'
would make the API server reject the whole write); a dual-stack Node is
keyed by its IPv4 address and its CNI- lists every pod CIDR; the other
nodes keep being published."""

import harness as H


def body(h):
    h.instance("node-0000")
    H.wait_for(lambda: h.cluster.data().get("Node-198.18.0.1"), 5,
               "the seeded nodes published")
    h.add_node("v6only", "2001:db8::7", "fd00:10:244:1::/64")
    h.cluster.create_node({
        "metadata": {"name": "dual"},
        "spec": {"podCIDR": "10.91.1.0/24",
                 "podCIDRs": ["10.91.1.0/24", "fd00:10:244:2::/64"]},
        "status": {"addresses": [
            {"type": "InternalIP", "address": "2001:db8::8"},
            {"type": "InternalIP", "address": "203.0.113.88"}]}})
    h.add_node("after", "203.0.113.89", "10.91.2.0/24")
    data, _ = H.wait_for(
        lambda: (d := h.cluster.data()).get("Node-203.0.113.89")
        and d.get("Node-2001_db8__7") and d.get("Node-203.0.113.88") and d, 5,
        "v6only, dual and after published")
    H.check(not [k for k in data if ":" in k], "no key contains ':'")
    v6 = {k: v for k, v in data.items() if k.endswith("2001_db8__7")}
    print(f"     v6only: {v6}")
    ov = v6.get("Interface-2001_db8__7", "")
    H.check(v6.get("Node-2001_db8__7") == "2001:db8::7"
            and v6.get("Name-2001_db8__7") == "v6only"
            and v6.get("CNI-2001_db8__7") == "fd00:10:244:1::1/64"
            and ov.startswith("192.168.254.")
            and v6.get("Mac-2001_db8__7") == H.mac_of(ov),
            "the IPv6 node's entry: keys with '_', value the real IPv6 address",
            v6)
    H.check(data.get("CNI-203.0.113.88") == "10.91.1.1/24,fd00:10:244:2::1/64",
            "a dual-stack node is keyed by its IPv4 address, CNI- lists both "
            "pod CIDRs", data.get("CNI-203.0.113.88"))
    H.check(not [k for k in data if "2001_db8__8" in k],
            "no entry under the dual-stack node's IPv6 address")
    nodes = [n for n in h.cluster.nodes()
             if n["metadata"]["name"] not in ("v6only", "dual")]
    # Without the entries of v6only and dual: their keys end in their key IP,
    # their Host-<uid> keys hold it (a uid may contain "db8" itself).
    theirs = ("2001_db8__7", "2001_db8__8", "203.0.113.88")
    probs = H.seed_format_problems(
        {k: v for k, v in data.items() if not k.endswith(theirs)
         and v not in ("2001:db8::7", "203.0.113.88")}, nodes)
    H.check(not probs, "the IPv4 nodes' entries are complete", probs)


if __name__ == "__main__":
    H.run_test(body, seed_nodes=2)
