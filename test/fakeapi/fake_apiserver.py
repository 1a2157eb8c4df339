#!/usr/bin/env python3
"""fake_apiserver.py - a stand-in Kubernetes API server for tests,
the local dev cluster and benchmarks (Python 3 standard library only).

It serves Nodes, ConfigMaps, Leases, Events and Namespaces over the real
wire protocol of kube-apiserver 1.32 (see /work/shared/kube-api-facts.md and
test/fakeapi/README.md): one global resourceVersion, list paging, watches
with bookmarks and compaction, the exact Status error bodies, bearer-token
and client-certificate auth over TLS, and discovery for kubectl.
A second, plain-HTTP control port changes state and injects faults.

On start it prints ONE line of JSON on stdout:
  {"api_url": ..., "api_port": ..., "control_url": ..., "control_port": ...,
   "ca_file": ... or null, "pid": ...}
Logs go to stderr. SIGTERM/SIGINT exit cleanly (status 0)."""

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import certs  # noqa: E402
import http_base  # noqa: E402
import resources as R  # noqa: E402
from api_handler import ApiHandler  # noqa: E402
from control import ControlHandler  # noqa: E402
from nodegen import NodeGenerator  # noqa: E402
from server_state import ServerState  # noqa: E402
from store import Store  # noqa: E402

CONTROL_HELP = """control interface (JSON over plain HTTP on --control-port):
  POST /nodes {Node}            create (ADDED)     GET /nodes[/NAME]
  PUT /nodes/NAME {Node}        replace (MODIFIED, status included, no RV check)
  PATCH /nodes/NAME {merge}     JSON merge patch (MODIFIED)
  DELETE /nodes/NAME            delete (DELETED)
  POST /nodes/bulk {"count":N,"prefix":"node-"}   generate N nodes
  same for /configmaps[/NS/NAME], /leases[/NS/NAME], /events[/NS/NAME],
           /namespaces[/NAME] (POST takes the namespace from metadata)
  GET /objects                  {"resourceVersion", "nodes", "configmaps", ...}
  GET|DELETE /requests          request log {t, method, path, query,
                                user_agent, auth: bearer|cert|none, status}
  GET|DELETE /writes            ConfigMap writes {t, method, name, namespace,
                                resourceVersion, data_keys}; with
                                config write_key_diff also node_keys,
                                node_keys_added/removed, data/value_bytes
  GET|DELETE /emitted           watch events sent {t, type, kind, name,
                                namespace, resourceVersion, watch_id}
  POST /faults {"drop_watches":true} | {"delay_ms":N} |
       {"fail":{"status":500|429|503|504,"count":N,"path_prefix":"/api"}} |
       {"refuse_seconds":S} | {"expire":true} | {"drop_mid_event":true} |
       {"clear":true}           (keys may be combined)
  POST /tokens {"tokens":[...]} replace accepted tokens (null: back to flags)
  POST /forbid {"rules":["update:configmaps"]}   replace the 403 rules
  GET|POST /config {"watch_chunk_bytes":N,"coalesce_events":bool,
       "bookmark_interval":S,"page_size_cap":N,"expired_as_http_410":bool,
       "write_key_diff":bool}
  GET /healthz
"""


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__, epilog=CONTROL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--host", default="127.0.0.1", help="API listen address")
    a("--port", type=int, default=0, help="API port (0 = ephemeral)")
    a("--control-host", default="127.0.0.1", help="control listen address")
    a("--control-port", type=int, default=0, help="control port (0 = ephemeral)")
    a("--tls-dir", help="serve HTTPS with DIR/ca.crt, server.crt, server.key "
      "(created with openssl if missing)")
    a("--client-ca", help="also accept client certificates signed by this CA "
      "(user = certificate CN)")
    a("--make-client-cert", metavar="CN",
      help="(extension) create TLS_DIR/client.crt + client.key with this CN, "
      "signed by the CA; implies --client-ca TLS_DIR/ca.crt")
    a("--token", action="append", default=[], help="accepted bearer token "
      "(repeatable); with no token options auth is off")
    a("--token-file", help="file of accepted tokens, one a line, re-read on "
      "every request")
    a("--forbid", action="append", default=[], metavar="VERB:RESOURCE",
      help="answer 403 for this verb on this resource (repeatable; '*' "
      "matches any; subresources as nodes/status)")
    a("--watch-chunk-bytes", type=int, default=0,
      help="split each watch write into chunks of N bytes (0 = one chunk per "
      "event)")
    a("--coalesce-events", action="store_true",
      help="write all pending watch events in one chunk")
    a("--compaction-window", type=int, default=10000,
      help="how many RVs of history watches can resume from")
    a("--expired-as-http-410", action="store_true",
      help="too-old watch RV as HTTP 410 instead of 200 + ERROR event")
    a("--bookmark-interval", type=float, default=60.0,
      help="seconds between watch BOOKMARKs")
    a("--page-size-cap", type=int, default=0,
      help="server-side maximum of `limit` (0 = none)")
    a("--nodes-file", help="JSON array (or NodeList) of Nodes loaded at start")
    a("--seed-nodes", type=int, default=0,
      help="generate N nodes node-0000.. at start")
    a("--verbose", "-v", action="store_true", help="log every request")
    return p.parse_args(argv)


class FakeApiServer:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.compaction_window)
        self.state = ServerState(args, self.store)
        self.state.nodegen = NodeGenerator()
        self.state.refuse = self.refuse
        self.ssl_ctx, self.ca_file = self._tls()
        ApiHandler.state = self.state
        ControlHandler.state = self.state
        self._seed()
        self.api = self._api_server(args.port)
        self.port = self.api.server_address[1]
        self.state.api_server = self.api
        self.control = http_base.Server((args.control_host, args.control_port),
                                        ControlHandler, verbose=args.verbose)
        self._refuse_lock = threading.Lock()

    def _tls(self):
        a = self.args
        if not a.tls_dir:
            return None, None
        certs.ensure_server_pki(a.tls_dir, a.host)
        if a.make_client_cert:
            if not os.path.exists(os.path.join(a.tls_dir, "client.crt")):
                certs.make_client_cert(a.tls_dir, a.make_client_cert)
            a.client_ca = a.client_ca or os.path.join(a.tls_dir, "ca.crt")
            self.state.auth.client_ca = a.client_ca
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(a.tls_dir, "server.crt"),
                            os.path.join(a.tls_dir, "server.key"))
        ctx.set_alpn_protocols(["http/1.1"])  # Go clients offer h2 first
        if a.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(a.client_ca)
        return ctx, os.path.abspath(os.path.join(a.tls_dir, "ca.crt"))

    def _seed(self):
        a = self.args
        if a.nodes_file:
            with open(a.nodes_file) as f:
                data = json.load(f)
            if isinstance(data, dict):
                data = data.get("items", [])
            self.store.create_many(R.NODES, data)
        if a.seed_nodes:
            self.store.create_many(R.NODES,
                                   self.state.nodegen.make(a.seed_nodes))

    def _api_server(self, port):
        return http_base.Server((self.args.host, port), ApiHandler,
                                self.ssl_ctx, self.state.conns,
                                self.args.verbose)

    def refuse(self, seconds, done):
        """Fault refuse_seconds: close the listener (and open connections,
        as an apiserver restart would), then reopen on the same port."""
        with self._refuse_lock:
            old = self.state.api_server
            old.shutdown()
            old.server_close()
            self.state.conns.cut(watches_only=False)
            done.set()
            end = time.monotonic() + seconds
            while not self.state.stopping.wait(max(0, end - time.monotonic())):
                try:
                    new = self._api_server(self.port)
                except OSError:
                    end = time.monotonic() + 0.1
                    continue
                self.state.api_server = new
                http_base.start(new)
                return

    def url(self, host, port, scheme):
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{port}"

    def run(self):
        http_base.start(self.api)
        http_base.start(self.control)
        cport = self.control.server_address[1]
        line = {"api_url": self.url(self.args.host, self.port,
                                    "https" if self.ssl_ctx else "http"),
                "api_port": self.port,
                "control_url": self.url(self.args.control_host, cport, "http"),
                "control_port": cport, "ca_file": self.ca_file,
                "pid": os.getpid()}
        stop = self.state.stopping
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        sys.stderr.write("fake_apiserver: stopping\n")
        with self.store.cond:
            self.store.cond.notify_all()
        self.state.api_server.shutdown()
        self.state.api_server.server_close()
        self.control.shutdown()
        self.control.server_close()
        self.state.conns.cut(watches_only=False)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    FakeApiServer(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
