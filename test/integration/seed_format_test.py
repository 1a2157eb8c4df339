"""Integration 1: 50 seeded Nodes are published in the seed's ConfigMap
format by the real binary (TLS + bearer token via a kubeconfig)."""

import harness as H


def body(h):
    h.instance("node-0000")
    nodes = h.cluster.nodes()
    H.check(len(nodes) == 50, "the cluster has 50 seeded Nodes", len(nodes))

    def complete():
        d = h.cluster.data()
        return d if not H.seed_format_problems(d, nodes) else None
    try:
        data, secs = H.wait_for(complete, 10, "50 complete node entries")
    except H.Failure as e:
        try:
            probs = H.seed_format_problems(h.cluster.data(), nodes)
        except RuntimeError:  # no ConfigMap at all
            probs = [str(e)]
        H.check(False, "the ConfigMap has every node in the seed format",
                "; ".join(probs[:10]))
    print(f"     published 50 nodes {secs * 1000:.0f} ms after start")
    H.check(True, "every node has Host-<uid>, Node-, Interface-, Mac-, CNI-, "
            "Name-; EndpointIP/Type; distinct overlay IPs; Mac = 0a:58 + overlay")
    ips = sorted(int(v.split(".")[3]) for k, v in data.items()
                 if k.startswith("Interface-"))
    H.check(ips == list(range(1, 51)), "the 50 nodes hold 192.168.254.1..50",
            ips)
    H.check(data.get("Network") == H.OVERLAY, "Network key is the overlay",
            data.get("Network"))


if __name__ == "__main__":
    H.run_test(body, seed_nodes=50)
