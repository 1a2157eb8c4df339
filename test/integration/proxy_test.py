"""Standalone auth 2: HTTPS_PROXY / NO_PROXY and the kubeconfig's proxy-url
with the REAL binary on the REAL control plane, through a tiny CONNECT proxy
written here that counts tunnels. The binary is given the server as
https://kubernetes.default.svc:PORT (a name in the serving certificate that
only the proxy resolves, to 127.0.0.1), so a working binary went through the
proxy; TLS runs end to end through the tunnel (the server certificate is
verified for that name).
  - HTTPS_PROXY: lists, publishes, and a Node added later arrives by the
    watch through the tunnel; the proxy saw CONNECT kubernetes.default.svc;
  - NO_PROXY matching the server (suffix, and the name): no CONNECT, the
    binary tries the name itself; a 127.0.0.1 server is never proxied;
  - the kubeconfig's proxy-url wins over HTTPS_PROXY (and NO_PROXY);
  - a proxy answering 407: a clear error naming the proxy; with user:password
    in the proxy URL it works."""

import time

import harness as H
import standalone_auth as S

NAME = "kubernetes.default.svc"


def token_user(h):
    return f"    token: {h.cluster.binary_token}\n"


def start(h, server, env=None, proxy_url=None):
    text = S.kubeconfig(server, h.cluster.ca_file, token_user(h), proxy_url)
    return S.start(h, "node-0000", text, env=env)


def named_server(h):
    return f"https://{NAME}:{h.cluster.cp.port}"


def via_env(h, proxy):
    inst = start(h, named_server(h), env={"HTTPS_PROXY": proxy.url})
    secs = S.ready(inst, 30, "through HTTPS_PROXY")
    targets = proxy.targets()
    print(f"     ready after {secs:.1f} s; CONNECTs: {len(targets)} "
          f"{sorted(set(targets))}")
    want = f"{NAME}:{h.cluster.cp.port}"
    H.check(targets and set(targets) == {want}, "every connection was a "
            f"CONNECT {want} through the proxy", sorted(set(targets)))
    names = [n["metadata"]["name"] for n in h.cluster.nodes()]
    H.wait_published(h.cluster, names, timeout=20)
    h.add_node("node-late", "192.0.2.77", "10.244.77.0/24")
    H.wait_published(h.cluster, names + ["node-late"], timeout=20)
    H.check(True, "published, and a Node added later arrived by the watch "
            "through the tunnel")
    inst.stop()


def no_proxy(h, proxy):
    for value in (".svc", f"example.org,{NAME}", "*"):
        n0 = len(proxy.targets())
        inst = start(h, named_server(h), env={"HTTPS_PROXY": proxy.url,
                                              "NO_PROXY": value})
        line, _ = H.wait_for(lambda: next(
            (l for l in inst.logs().splitlines()
             if f"cannot resolve {NAME}" in l), None), 15,
            f"NO_PROXY={value}: the binary resolving {NAME} itself")
        time.sleep(1)
        H.check(len(proxy.targets()) == n0, f"NO_PROXY={value}: no CONNECT "
                "(it went direct, and cannot resolve the proxy-only name)",
                line[-200:])
        inst.stop()
    n0 = len(proxy.targets())
    inst = start(h, h.cluster.server, env={"HTTPS_PROXY": proxy.url})
    S.ready(inst, 30, "127.0.0.1 with HTTPS_PROXY set")
    H.check(len(proxy.targets()) == n0, "a loopback server is never proxied "
            "(as in Go), and works directly")
    inst.stop()


def proxy_url_wins(h, env_proxy):
    other = S.ConnectProxy(hosts={NAME: "127.0.0.1"})
    try:
        n0 = len(env_proxy.targets())
        inst = start(h, named_server(h), proxy_url=other.url,
                     env={"HTTPS_PROXY": env_proxy.url, "NO_PROXY": "*"})
        S.ready(inst, 30, "kubeconfig proxy-url")
        H.check(other.targets() and len(env_proxy.targets()) == n0,
                "proxy-url wins over HTTPS_PROXY and NO_PROXY",
                (len(other.targets()), len(env_proxy.targets()) - n0))
        inst.stop()
    finally:
        other.close()


def auth_407(h):
    guarded = S.ConnectProxy(hosts={NAME: "127.0.0.1"}, auth="kcr:s3cr3t")
    try:
        inst = start(h, named_server(h), proxy_url=guarded.url)
        line, _ = H.wait_for(lambda: next(
            (l for l in inst.logs().splitlines()
             if "requires authentication" in l), None), 15,
            "a log line saying the proxy requires authentication")
        print(f"     {line[-300:]}")
        H.check(guarded.url in line and "407" in line,
                "the error names the proxy and its 407", line)
        H.check(inst.healthz("/readyz")[0] != 200, "/readyz not 200 while "
                "the proxy refuses")
        inst.stop()
        url = guarded.url.replace("http://", "http://kcr:s3cr3t@")
        inst = start(h, named_server(h), proxy_url=url)
        S.ready(inst, 30, "proxy with user:password in proxy-url")
        H.check(guarded.targets(), "with the credentials the proxy lets it "
                "through", len(guarded.targets()))
        H.check("s3cr3t" not in inst.logs(), "the proxy password is not "
                "logged")
        inst.stop()
    finally:
        guarded.close()


def body(h):
    proxy = S.ConnectProxy(hosts={NAME: "127.0.0.1"})
    try:
        via_env(h, proxy)
        no_proxy(h, proxy)
        proxy_url_wins(h, proxy)
        auth_407(h)
    finally:
        proxy.close()


if __name__ == "__main__":
    H.run_test(body, seed_nodes=3)
