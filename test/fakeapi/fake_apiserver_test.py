#!/usr/bin/env python3
"""Self-test of the fake Kubernetes API server (unittest, stdlib only).

Each class starts its own server subprocess and checks the behaviour
listed in /work/shared/kube-api-facts.md: paging, watch framing and
semantics, the exact Status bodies, auth and TLS, faults and selectors."""

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeapi_client import FakeServer  # noqa: E402
import certs  # noqa: E402

NODES = "/api/v1/nodes"
CMS = "/api/v1/namespaces/kube-system/configmaps"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
EVENTS = "/api/v1/namespaces/default/events"
CONFLICT_MSG = ('Operation cannot be fulfilled on configmaps "{0}": the object '
                'has been modified; please apply your changes to the latest '
                'version and try again')


def node(name, **extra):
    n = {"metadata": {"name": name}, "spec": {"podCIDR": "10.9.0.0/24"}}
    n.update(extra)
    return n


class ServerCase(unittest.TestCase):
    ARGS = ()

    @classmethod
    def setUpClass(cls):
        cls.srv = FakeServer(*cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.srv.ctl("POST", "/faults", {"clear": True})
        self.srv.ctl("POST", "/config", {"watch_chunk_bytes": 0,
                                         "coalesce_events": False,
                                         "bookmark_interval": 60,
                                         "page_size_cap": 0,
                                         "expired_as_http_410": False})

    def rv(self):
        return int(self.srv.ctl("GET", "/objects")["resourceVersion"])


class ListTest(ServerCase):
    ARGS = ("--seed-nodes", "25")

    def test_paging_reports_first_rv_and_is_consistent(self):
        code, first = self.srv.api("GET", NODES + "?limit=10")
        self.assertEqual(code, 200)
        self.assertEqual(first["kind"], "NodeList")
        self.assertNotIn("kind", first["items"][0])  # items carry no kind
        rv = first["metadata"]["resourceVersion"]
        self.srv.ctl("POST", "/nodes", node("aaa-late"))  # sorts first
        self.srv.ctl("DELETE", "/nodes/node-0024")
        names = [i["metadata"]["name"] for i in first["items"]]
        cont, pages = first["metadata"]["continue"], 1
        while cont:
            code, page = self.srv.api("GET", NODES + "?limit=10&continue=" + cont)
            self.assertEqual(code, 200)
            self.assertEqual(page["metadata"]["resourceVersion"], rv)
            names += [i["metadata"]["name"] for i in page["items"]]
            cont = page["metadata"].get("continue")
            pages += 1
        self.assertEqual(pages, 3)
        self.assertEqual(names, [f"node-{i:04d}" for i in range(25)])
        self.srv.ctl("POST", "/nodes", node("node-0024"))
        self.srv.ctl("DELETE", "/nodes/aaa-late")

    def test_expired_continue_is_410(self):
        _, first = self.srv.api("GET", NODES + "?limit=5")
        self.srv.ctl("POST", "/faults", {"expire": True})
        code, body = self.srv.api(
            "GET", NODES + "?limit=5&continue=" + first["metadata"]["continue"])
        self.assertEqual(code, 410)
        self.assertEqual(body["reason"], "Expired")
        self.assertEqual(body["code"], 410)

    def test_continue_with_rv_is_400_and_bad_token_is_400(self):
        _, first = self.srv.api("GET", NODES + "?limit=5")
        code, body = self.srv.api("GET", NODES + "?limit=5&resourceVersion=5"
                                  "&continue=" + first["metadata"]["continue"])
        self.assertEqual(code, 400)
        code, body = self.srv.api("GET", NODES + "?limit=5&continue=garbage")
        self.assertEqual((code, body["reason"]), (400, "BadRequest"))

    def test_page_size_cap_and_rv0_ignores_limit(self):
        self.srv.ctl("POST", "/config", {"page_size_cap": 4})
        _, page = self.srv.api("GET", NODES + "?limit=10")
        self.assertEqual(len(page["items"]), 4)
        self.assertEqual(page["metadata"]["remainingItemCount"], 21)
        _, page = self.srv.api("GET", NODES + "?limit=10&resourceVersion=0")
        self.assertEqual(len(page["items"]), 25)
        self.assertNotIn("continue", page["metadata"])

    def test_field_selectors(self):
        code, body = self.srv.api("GET", NODES + "?fieldSelector=metadata.name%3Dnode-0003")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["node-0003"])
        self.srv.ctl("PATCH", "/nodes/node-0007", {"spec": {"unschedulable": True}})
        _, body = self.srv.api("GET", NODES + "?fieldSelector=spec.unschedulable%3Dtrue")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["node-0007"])
        _, body = self.srv.api("GET", NODES + "?fieldSelector=spec.unschedulable!%3Dtrue")
        self.assertEqual(len(body["items"]), 24)
        self.srv.ctl("PATCH", "/nodes/node-0007", {"spec": {"unschedulable": None}})
        code, body = self.srv.api("GET", "/api/v1/configmaps?fieldSelector="
                                  "metadata.namespace%3Dkube-system")
        self.assertEqual(code, 200)
        for path, label in ((NODES, "spec.podCIDR"), (CMS, "data.x"),
                            (NODES + "?watch=true", "status.phase")):
            sep = "&" if "?" in path else "?"
            code, body = self.srv.api("GET", f"{path}{sep}fieldSelector={label}%3Dx")
            self.assertEqual(code, 400)
            self.assertEqual(body["message"], f"field label not supported: {label}")
            self.assertEqual(body["reason"], "BadRequest")

    def test_label_selector(self):
        _, body = self.srv.api("GET", NODES + "?labelSelector=kubernetes.io%2Fhostname%3Dnode-0002")
        self.assertEqual([i["metadata"]["name"] for i in body["items"]], ["node-0002"])
        _, body = self.srv.api("GET", NODES + "?labelSelector=!kubernetes.io%2Fos")
        self.assertEqual(body["items"], [])

    def test_too_large_rv_is_504_after_3s(self):
        t0 = time.monotonic()
        code, body = self.srv.api("GET", NODES + f"?resourceVersion={self.rv() + 100}")
        self.assertGreaterEqual(time.monotonic() - t0, 2.9)
        self.assertEqual(code, 504)
        self.assertEqual(body["reason"], "Timeout")
        self.assertTrue(body["message"].startswith("Timeout: Too large resource version"))

    def test_discovery(self):
        for path, kind in (("/api", "APIVersions"), ("/apis", "APIGroupList"),
                           ("/api/v1", "APIResourceList"),
                           ("/apis/coordination.k8s.io/v1", "APIResourceList")):
            code, body = self.srv.api("GET", path)
            self.assertEqual((code, body["kind"]), (200, kind), path)
        _, v1 = self.srv.api("GET", "/api/v1")
        names = {r["name"] for r in v1["resources"]}
        self.assertLessEqual({"nodes", "configmaps", "events"}, names)
        code, body = self.srv.api("GET", "/version")
        self.assertEqual((code, body["minor"]), (200, "32"))
        self.assertEqual(self.srv.request("GET", "/openapi/v2")[0], 404)
        self.assertEqual(self.srv.request("GET", "/healthz")[2], b"ok")


class WatchTest(ServerCase):
    ARGS = ("--seed-nodes", "3", "--compaction-window", "50")

    def test_initial_events_then_bookmark(self):
        w = self.srv.raw_watch(NODES + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=5")
        self.assertEqual(w.status, 200)
        self.assertEqual(w.headers["transfer-encoding"], "chunked")
        n = len(self.srv.ctl("GET", "/objects")["nodes"])
        evs = w.events(n + 1)
        self.assertEqual([e["type"] for e in evs], ["ADDED"] * n + ["BOOKMARK"])
        self.assertEqual(evs[0]["object"]["kind"], "Node")
        bm = evs[-1]["object"]
        self.assertEqual(bm["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})
        self.assertEqual(int(bm["metadata"]["resourceVersion"]), self.rv())
        w.close()
        # without bookmarks: no BOOKMARK after the burst
        w = self.srv.raw_watch(NODES + "?watch=true&resourceVersion=0&timeoutSeconds=1")
        evs = w.events(n + 1)
        self.assertEqual([e["type"] for e in evs], ["ADDED"] * n)
        self.assertTrue(w.ended)
        w.close()

    def test_changes_after_rv_and_deleted_carries_deletion_rv(self):
        rv = self.rv()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={rv}&timeoutSeconds=10")
        self.srv.ctl("POST", "/nodes", node("w1"))
        self.srv.ctl("PATCH", "/nodes/w1", {"metadata": {"labels": {"a": "b"}}})
        self.srv.ctl("POST", "/configmaps", {"metadata": {"name": "other", "namespace": "default"}})
        self.srv.ctl("DELETE", "/nodes/w1")
        evs = w.events(3)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "MODIFIED", "DELETED"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertEqual(rvs, [rv + 1, rv + 2, rv + 4])  # deletion RV, not last write
        self.assertEqual(evs[2]["object"]["metadata"]["labels"], {"a": "b"})
        w.close()

    def test_chunk_splitting(self):
        self.srv.ctl("POST", "/config", {"watch_chunk_bytes": 7})
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}")
        self.srv.ctl("POST", "/nodes", node("split-1"))
        self.srv.ctl("DELETE", "/nodes/split-1")
        chunks = []
        evs = w.events(2, chunks)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])
        self.assertTrue(all(0 < len(c) <= 7 for c in chunks))
        self.assertGreater(len(chunks), 20)  # each event spans many chunks
        w.close()

    def test_coalescing(self):
        self.srv.ctl("POST", "/config", {"coalesce_events": True})
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}")
        made = self.srv.ctl("POST", "/nodes/bulk", {"count": 5, "prefix": "co-"})
        chunk = w.chunk()
        lines = chunk.rstrip(b"\n").split(b"\n")
        self.assertEqual(len(lines), 5)  # five events share one chunk
        self.assertEqual([json.loads(x)["object"]["metadata"]["name"] for x in lines],
                         made["names"])
        w.close()
        for n in made["names"]:
            self.srv.ctl("DELETE", "/nodes/" + n)

    def test_too_old_rv_error_event_and_http_410(self):
        self.srv.ctl("POST", "/faults", {"expire": True})
        w = self.srv.raw_watch(NODES + "?watch=true&resourceVersion=2")
        self.assertEqual(w.status, 200)
        ev = w.events(1)[0]
        self.assertEqual(ev["type"], "ERROR")
        obj = ev["object"]
        self.assertEqual((obj["kind"], obj["status"], obj["reason"], obj["code"]),
                         ("Status", "Failure", "Expired", 410))
        self.assertTrue(obj["message"].startswith("too old resource version: 2 ("))
        self.assertEqual(w.chunk(), b"")  # then the stream ends
        w.close()
        self.srv.ctl("POST", "/config", {"expired_as_http_410": True})
        w = self.srv.raw_watch(NODES + "?watch=true&resourceVersion=2")
        self.assertEqual(w.status, 410)
        self.assertEqual(w.body()["reason"], "Expired")
        w.close()

    def test_compaction_window(self):
        rv = self.rv()
        for i in range(60):
            self.srv.ctl("PATCH", "/nodes/node-0000", {"metadata": {"labels": {"i": str(i)}}})
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={rv}")
        self.assertEqual(w.events(1)[0]["type"], "ERROR")
        w.close()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={rv + 20}&timeoutSeconds=1")
        self.assertEqual(len(w.events(40)), 40)
        w.close()

    def test_timeout_seconds_ends_cleanly(self):
        t0 = time.monotonic()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}&timeoutSeconds=1")
        self.assertEqual(w.chunk(), b"")
        self.assertAlmostEqual(time.monotonic() - t0, 1.0, delta=0.5)
        w.close()

    def _other_write(self, name):
        """A write of another kind: a newer RV, but no event for a Node watch."""
        self.srv.ctl("POST", "/configmaps", {"metadata": {"name": name,
                                                          "namespace": "default"}})
        return self.rv()

    def test_bookmarks_periodic_and_before_deadline(self):
        # Like kube-apiserver: only once there is an RV newer than the watch's.
        self.srv.ctl("POST", "/config", {"bookmark_interval": 0.5})
        rv = self.rv()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={rv}&allowWatchBookmarks=true")
        rv1 = self._other_write("bm-1")
        evs = w.events(1)
        self.assertEqual(evs[0]["type"], "BOOKMARK")
        self.assertEqual(evs[0]["object"]["metadata"]["resourceVersion"], str(rv1))
        self.assertNotIn("annotations", evs[0]["object"]["metadata"])
        self.assertNotIn("creationTimestamp", evs[0]["object"]["metadata"])
        rv2 = self._other_write("bm-2")
        evs = w.events(1)
        self.assertEqual(evs[0]["object"]["metadata"]["resourceVersion"], str(rv2))
        w.close()
        self.srv.ctl("POST", "/config", {"bookmark_interval": 60})
        t0 = time.monotonic()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={rv}"
                               "&allowWatchBookmarks=true&timeoutSeconds=3")
        self.assertEqual(w.events(1)[0]["type"], "BOOKMARK")
        self.assertAlmostEqual(time.monotonic() - t0, 1.0, delta=0.5)
        self.assertEqual(w.chunk(), b"")
        w.close()
        # Nothing newer than the watch's RV: no bookmark, a clean end.
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}"
                               "&allowWatchBookmarks=true&timeoutSeconds=3")
        self.assertEqual(w.chunk(), b"")
        w.close()

    def test_field_selector_watch_transitions(self):
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}"
                               "&fieldSelector=spec.unschedulable%3Dtrue")
        self.srv.ctl("PATCH", "/nodes/node-0001", {"spec": {"unschedulable": True}})
        self.srv.ctl("PATCH", "/nodes/node-0001", {"spec": {"unschedulable": False}})
        evs = w.events(2)
        self.assertEqual([e["type"] for e in evs], ["ADDED", "DELETED"])
        w.close()

    def test_configmap_watch_by_name(self):
        w = self.srv.raw_watch(CMS + f"?watch=true&resourceVersion={self.rv()}"
                               "&fieldSelector=metadata.name%3Dmine")
        self.srv.api("POST", CMS, {"metadata": {"name": "notmine"}})
        self.srv.api("POST", CMS, {"metadata": {"name": "mine"}, "data": {"a": "1"}})
        ev = w.events(1)[0]
        self.assertEqual((ev["type"], ev["object"]["kind"]), ("ADDED", "ConfigMap"))
        self.assertEqual(ev["object"]["metadata"]["name"], "mine")
        w.close()
        # The log entry is added just after the bytes reach the socket, so the
        # client can read the event before the server has recorded it.
        deadline = time.monotonic() + 5
        while True:
            emitted = self.srv.ctl("GET", "/emitted")
            if any(e["name"] == "mine" and e["type"] == "ADDED" for e in emitted):
                break
            self.assertLess(time.monotonic(), deadline, f"never recorded: {emitted}")
            time.sleep(0.02)

    def test_faults_drop_watches_and_drop_mid_event(self):
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}")
        time.sleep(0.2)
        self.assertGreaterEqual(self.srv.ctl("POST", "/faults", {"drop_watches": True})
                                ["dropped_watches"], 1)
        with self.assertRaises(EOFError):
            w.chunk()
        w.close()
        w = self.srv.raw_watch(NODES + f"?watch=true&resourceVersion={self.rv()}")
        self.srv.ctl("POST", "/faults", {"drop_mid_event": True})
        self.srv.ctl("PATCH", "/nodes/node-0002", {"metadata": {"labels": {"cut": "1"}}})
        with self.assertRaisesRegex(EOFError, "middle of a chunk"):
            w.chunk()
        w.close()


class ConfigMapTest(ServerCase):
    def test_crud_and_exact_bodies(self):
        code, cm = self.srv.api("POST", CMS, {"apiVersion": "v1", "kind": "ConfigMap",
                                              "metadata": {"name": "kcr"}, "data": {"a": "1"}})
        self.assertEqual(code, 201)
        md = cm["metadata"]
        self.assertEqual((cm["kind"], md["namespace"]), ("ConfigMap", "kube-system"))
        for f in ("uid", "creationTimestamp", "resourceVersion"):
            self.assertIn(f, md)
        self.assertRegex(md["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        code, _, raw = self.srv.request("POST", CMS, {"metadata": {"name": "kcr"}})
        self.assertEqual(code, 409)
        self.assertEqual(raw, b'{"kind":"Status","apiVersion":"v1","metadata":{},'
                         b'"status":"Failure","message":"configmaps \\"kcr\\" already exists",'
                         b'"reason":"AlreadyExists","details":{"name":"kcr","kind":"configmaps"},'
                         b'"code":409}')
        code, _, raw = self.srv.request("GET", CMS + "/nope")
        self.assertEqual(raw, b'{"kind":"Status","apiVersion":"v1","metadata":{},'
                         b'"status":"Failure","message":"configmaps \\"nope\\" not found",'
                         b'"reason":"NotFound","details":{"name":"nope","kind":"configmaps"},'
                         b'"code":404}')
        # CAS: the read RV wins once, then it is stale
        cm["data"]["b"] = "2"
        code, cm2 = self.srv.api("PUT", CMS + "/kcr", cm)
        self.assertEqual(code, 200)
        self.assertGreater(int(cm2["metadata"]["resourceVersion"]), int(md["resourceVersion"]))
        code, _, raw = self.srv.request("PUT", CMS + "/kcr", cm)
        self.assertEqual(code, 409)
        self.assertEqual(json.loads(raw), {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": CONFLICT_MSG.format("kcr"), "reason": "Conflict",
            "details": {"name": "kcr", "kind": "configmaps"}, "code": 409})
        # a no-op update keeps the RV; no RV overwrites unconditionally
        self.assertEqual(self.srv.api("PUT", CMS + "/kcr", cm2)[1]["metadata"]["resourceVersion"],
                         cm2["metadata"]["resourceVersion"])
        code, cm3 = self.srv.api("PUT", CMS + "/kcr", {"metadata": {"name": "kcr"}, "data": {"z": "9"}})
        self.assertEqual((code, cm3["data"]), (200, {"z": "9"}))
        self.assertEqual(cm3["metadata"]["uid"], md["uid"])
        code, body = self.srv.api("PUT", CMS + "/missing", {"metadata": {"name": "missing"}})
        self.assertEqual((code, body["reason"]), (404, "NotFound"))
        code, body = self.srv.api("DELETE", CMS + "/kcr")
        self.assertEqual((code, body["status"], body["details"]["name"]), (200, "Success", "kcr"))
        self.assertEqual(self.srv.api("GET", CMS + "/kcr")[0], 404)
        writes = self.srv.ctl("GET", "/writes")
        self.assertEqual([w["method"] for w in writes if w["name"] == "kcr"],
                         ["POST", "PUT", "PUT", "PUT", "DELETE"])

    def test_write_key_diff(self):
        # off by default: entries keep their original fields only
        self.srv.api("POST", CMS, {"metadata": {"name": "kd"}, "data": {"Node-1": "1"}})
        self.assertNotIn("node_keys_added", self.srv.ctl("GET", "/writes")[-1])
        self.srv.ctl("POST", "/config", {"write_key_diff": True})
        try:
            cases = [  # (data written, added, removed)
                ({"Node-1": "1", "Node-2": "2", "Mac-2": "m"}, ["Node-1", "Node-2"], []),
                ({"Node-2": "2", "Node-3": "3"}, ["Node-3"], ["Node-1"]),
                ({"Node-2": "2", "Node-3": "3", "x": "y"}, [], []),
            ]
            for data, added, removed in cases:
                code, _ = self.srv.api("PUT", CMS + "/kd", {"metadata": {"name": "kd"}, "data": data})
                self.assertEqual(code, 200)
                w = self.srv.ctl("GET", "/writes")[-1]
                self.assertEqual((w["node_keys_added"], w["node_keys_removed"]), (added, removed))
                self.assertEqual(w["node_keys"], sum(k.startswith("Node-") for k in data))
                self.assertEqual(w["data_bytes"], sum(len(k) + len(v) for k, v in data.items()))
                self.assertEqual(w["value_bytes"], sum(len(v) for v in data.values()))
                self.assertLessEqual(w["t_received"], w["t"])
            self.srv.api("DELETE", CMS + "/kd")
            self.assertEqual(self.srv.ctl("GET", "/writes")[-1]["node_keys_removed"],
                             ["Node-2", "Node-3"])
        finally:
            self.srv.ctl("POST", "/config", {"write_key_diff": False})

    def test_patch_types(self):
        self.srv.api("POST", CMS, {"metadata": {"name": "p"}, "data": {"a": "1", "b": "2"}})
        code, cm = self.srv.api("PATCH", CMS + "/p", {"data": {"a": None, "c": "3"}},
                                ctype="application/merge-patch+json")
        self.assertEqual((code, cm["data"]), (200, {"b": "2", "c": "3"}))
        code, cm = self.srv.api("PATCH", CMS + "/p", {"data": {"d": "4"}},
                                ctype="application/strategic-merge-patch+json")
        self.assertEqual(cm["data"], {"b": "2", "c": "3", "d": "4"})
        code, cm = self.srv.api("PATCH", CMS + "/p",
                                [{"op": "remove", "path": "/data/b"},
                                 {"op": "add", "path": "/data/e", "value": "5"}],
                                ctype="application/json-patch+json")
        self.assertEqual(cm["data"], {"c": "3", "d": "4", "e": "5"})
        code, body = self.srv.api("PATCH", CMS + "/p", {"metadata": {"resourceVersion": "1"},
                                                        "data": {"x": "y"}},
                                  ctype="application/merge-patch+json")
        self.assertEqual((code, body["message"]), (409, CONFLICT_MSG.format("p")))
        code, body = self.srv.api("PATCH", CMS + "/p", {"data": {}}, ctype="text/plain")
        self.assertEqual(code, 415)
        code, cm = self.srv.api("PATCH", CMS + "/ssa?fieldManager=t",
                                {"metadata": {"name": "ssa"}, "data": {"k": "v"}},
                                ctype="application/apply-patch+yaml")
        self.assertEqual((code, cm["data"]), (201, {"k": "v"}))

    def test_validation_and_size_limits(self):
        for key in ("bad key", "..x", ".", "a" * 254):
            code, body = self.srv.api("POST", CMS, {"metadata": {"name": "v"}, "data": {key: "1"}})
            self.assertEqual((code, body["reason"]), (422, "Invalid"), key)
            self.assertEqual(body["details"]["causes"][0]["field"], f"data[{key}]")
            self.assertTrue(body["message"].startswith('ConfigMap "v" is invalid: data['))
        big = {"metadata": {"name": "big"}, "data": {"a": "x" * 600000, "b": "y" * 448577}}
        code, body = self.srv.api("POST", CMS, big)
        self.assertEqual((code, body["reason"]), (422, "Invalid"))
        self.assertIn("Too long: may not be more than 1048576 bytes", body["message"])
        big["data"]["b"] = "y" * 448576  # exactly 1 MiB of values is fine
        t0 = time.monotonic()
        code, cm = self.srv.api("POST", CMS, big)
        self.assertEqual(code, 201)
        code, cm = self.srv.api("PUT", CMS + "/big", cm)
        self.assertEqual(code, 200)
        self.assertLess(time.monotonic() - t0, 1.0)  # 1 MiB writes are quick
        code, body = self.srv.api("POST", CMS, {"metadata": {"name": "huge"},
                                                "data": {"a": "x" * (3 << 20)}})
        self.assertEqual((code, body["reason"], body["code"]), (413, "RequestEntityTooLarge", 413))
        code, body = self.srv.api("GET", "/api/v1/namespaces/kube-system")
        self.assertEqual((code, body["kind"]), (200, "Namespace"))
        code, body = self.srv.api("POST", "/api/v1/namespaces/nons/configmaps",
                                  {"metadata": {"name": "x"}})
        self.assertEqual((code, body["message"]), (404, 'namespaces "nons" not found'))

    def test_leases_cas(self):
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": "kcr"},
                 "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}
        code, got = self.srv.api("POST", LEASES, lease)
        self.assertEqual((code, got["kind"], got["apiVersion"]),
                         (201, "Lease", "coordination.k8s.io/v1"))
        code, body = self.srv.api("POST", LEASES, lease)
        self.assertEqual((code, body["reason"], body["message"]),
                         (409, "AlreadyExists", 'leases.coordination.k8s.io "kcr" already exists'))
        self.assertEqual(body["details"], {"name": "kcr", "group": "coordination.k8s.io",
                                           "kind": "leases"})
        got["spec"]["holderIdentity"] = "b"
        code, new = self.srv.api("PUT", LEASES + "/kcr", got)
        self.assertEqual((code, new["spec"]["holderIdentity"]), (200, "b"))
        got["spec"]["holderIdentity"] = "c"
        code, body = self.srv.api("PUT", LEASES + "/kcr", got)  # stale RV loses
        self.assertEqual((code, body["reason"]), (409, "Conflict"))
        self.assertEqual(self.srv.api("GET", LEASES + "/kcr")[1]["spec"]["holderIdentity"], "b")

    def test_events_post_and_patch(self):
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": "node-1.17f0c3b2a1d2e3f4", "namespace": "default"},
              "involvedObject": {"kind": "Node", "name": "node-1", "apiVersion": "v1"},
              "reason": "OverlayIPAllocated", "message": "m1", "count": 1, "type": "Normal",
              "source": {"component": "kube-chorus-router"}}
        self.assertEqual(self.srv.api("POST", EVENTS, ev)[0], 201)
        code, got = self.srv.api("PATCH", EVENTS + "/node-1.17f0c3b2a1d2e3f4",
                                 {"count": 2, "message": "m2",
                                  "lastTimestamp": "2025-01-01T00:00:01Z"},
                                 ctype="application/strategic-merge-patch+json")
        self.assertEqual((code, got["count"], got["message"]), (200, 2, "m2"))
        _, lst = self.srv.api("GET", EVENTS + "?fieldSelector=involvedObject.name%3Dnode-1")
        self.assertEqual(len(lst["items"]), 1)


class AuthTest(ServerCase):
    ARGS = ()  # set in setUpClass (needs a temp dir)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fakeapi-test-")
        cls.token_file = os.path.join(cls.tmp, "tokens")
        with open(cls.token_file, "w") as f:
            f.write("filetok\n")
        cls.srv = FakeServer("--tls-dir", os.path.join(cls.tmp, "tls"), "--token", "t0",
                             "--token-file", cls.token_file, "--make-client-cert", "cert-user",
                             "--forbid", "update:configmaps", "--seed-nodes", "2")
        cls.srv.token = "t0"

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_tls_with_ca_and_wrong_ca_fails(self):
        self.assertTrue(self.srv.info["api_url"].startswith("https://127.0.0.1:"))
        self.assertEqual(self.srv.api("GET", NODES)[0], 200)
        other = os.path.join(self.tmp, "other")
        certs.ensure_server_pki(other, "127.0.0.1")
        with self.assertRaises(Exception) as cm:
            self.srv.request("GET", NODES, conn=self.srv.conn(ca=os.path.join(other, "ca.crt")))
        self.assertIn("CERTIFICATE_VERIFY_FAILED", str(cm.exception))

    def test_401_bodies_and_token_rotation(self):
        exact = (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                 b'"message":"Unauthorized","reason":"Unauthorized","code":401}')
        code, _, raw = self.srv.request("GET", NODES, token="wrong")
        self.assertEqual((code, raw), (401, exact))
        # No credentials at all: system:anonymous, refused by RBAC (like the real server).
        code, _, raw = self.srv.request("GET", NODES, token=None)
        self.assertEqual(code, 403)
        self.assertIn(b'"message":"nodes is forbidden: User \\"system:anonymous\\" cannot '
                      b'list resource \\"nodes\\" in API group \\"\\" at the cluster scope"', raw)
        self.assertEqual(self.srv.request("GET", NODES, token="filetok")[0], 200)
        with open(self.token_file, "w") as f:
            f.write("newfiletok\n")  # re-read on every request
        self.assertEqual(self.srv.request("GET", NODES, token="filetok")[0], 401)
        self.assertEqual(self.srv.request("GET", NODES, token="newfiletok")[0], 200)
        self.srv.ctl("POST", "/tokens", {"tokens": ["r1", "r2"]})
        try:
            self.assertEqual(self.srv.request("GET", NODES, token="t0")[0], 401)
            self.assertEqual(self.srv.request("GET", NODES, token="r2")[0], 200)
        finally:
            self.srv.ctl("POST", "/tokens", {"tokens": None})
        self.assertEqual(self.srv.request("GET", "/healthz", token=None)[0], 200)
        reqs = self.srv.ctl("GET", "/requests")
        self.assertEqual({r["auth"] for r in reqs} >= {"bearer", "none"}, True)
        self.assertFalse(any("t0" in json.dumps(r) for r in reqs))

    def test_client_certificate(self):
        crt, key = (os.path.join(self.tmp, "tls", f) for f in ("client.crt", "client.key"))
        conn = self.srv.conn(cert=crt, key=key)
        self.assertEqual(self.srv.request("GET", NODES, token=None, conn=conn)[0], 200)
        # The fake logs a request after answering it: wait for the entry.
        for _ in range(100):
            if self.srv.ctl("GET", "/requests")[-1]["auth"] == "cert":
                break
            time.sleep(0.02)
        self.assertEqual(self.srv.ctl("GET", "/requests")[-1]["auth"], "cert")

    def test_403(self):
        self.srv.api("POST", CMS, {"metadata": {"name": "f"}})
        code, body = self.srv.api("PUT", CMS + "/f", {"metadata": {"name": "f"}})
        self.assertEqual(code, 403)
        self.assertEqual(body, {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'configmaps "f" is forbidden: User "system:serviceaccount:kube-system:'
                       'kube-chorus-router" cannot update resource "configmaps" in API group "" '
                       'in the namespace "kube-system"',
            "reason": "Forbidden", "details": {"name": "f", "kind": "configmaps"}, "code": 403})
        self.srv.ctl("POST", "/forbid", {"rules": ["list:nodes"]})
        try:
            code, body = self.srv.api("GET", NODES)
            self.assertEqual(body["message"], 'nodes is forbidden: User "system:serviceaccount:'
                             'kube-system:kube-chorus-router" cannot list resource "nodes" in '
                             'API group "" at the cluster scope')
            self.assertEqual(self.srv.api("PUT", CMS + "/f", {"metadata": {"name": "f"}})[0], 200)
        finally:
            self.srv.ctl("POST", "/forbid", {"rules": ["update:configmaps"]})


class FaultTest(ServerCase):
    ARGS = ("--seed-nodes", "2")

    def test_delay(self):
        self.srv.ctl("POST", "/faults", {"delay_ms": 300})
        t0 = time.monotonic()
        self.assertEqual(self.srv.api("GET", NODES)[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)

    def test_fail_count_and_prefix(self):
        self.srv.ctl("POST", "/faults", {"fail": {"status": 429, "count": 2,
                                                  "path_prefix": "/api/v1/nodes"}})
        self.assertEqual(self.srv.api("GET", CMS)[0], 200)  # prefix does not match
        code, hdrs, raw = self.srv.request("GET", NODES)
        body = json.loads(raw)
        self.assertEqual((code, hdrs["retry-after"], body["reason"], body["code"]),
                         (429, "1", "TooManyRequests", 429))
        self.assertEqual(self.srv.api("GET", NODES)[0], 429)
        self.assertEqual(self.srv.api("GET", NODES)[0], 200)
        self.srv.ctl("POST", "/faults", {"fail": {"status": 500, "count": 1}})
        code, body = self.srv.api("GET", NODES)
        self.assertEqual((code, body["reason"], body["status"]), (500, "InternalError", "Failure"))

    def test_refuse_then_reopen(self):
        self.srv.ctl("POST", "/faults", {"refuse_seconds": 1})
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.srv.port), timeout=2).close()
        time.sleep(1.5)
        self.assertEqual(self.srv.api("GET", NODES)[0], 200)

    def test_keepalive(self):
        conn = self.srv.conn()
        for _ in range(3):
            self.assertEqual(self.srv.request("GET", NODES, conn=conn)[0], 200)
        conn.close()


class ScaleTest(ServerCase):
    ARGS = ("--seed-nodes", "5000")

    def test_5000_nodes_list_and_watch(self):
        t0 = time.monotonic()
        code, _, raw = self.srv.request("GET", NODES)
        self.assertEqual(code, 200)
        self.assertEqual(len(json.loads(raw)["items"]), 5000)
        self.assertLess(time.monotonic() - t0, 2.0)
        items, cont = 0, ""
        while True:
            _, page = self.srv.api("GET", NODES + "?limit=500" + (f"&continue={cont}" if cont else ""))
            items += len(page["items"])
            cont = page["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(items, 5000)
        w = self.srv.raw_watch(NODES + "?watch=true&timeoutSeconds=30")
        self.assertEqual(len(w.events(5000)), 5000)
        w.close()
        self.assertLess(time.monotonic() - t0, 10.0)
        ips = {n["status"]["addresses"][0]["address"] for n in self.srv.ctl("GET", "/objects")["nodes"]}
        self.assertEqual(len(ips), 5000)


class LifecycleTest(unittest.TestCase):
    def test_sigterm_exits_cleanly(self):
        srv = FakeServer()
        w = srv.raw_watch(NODES + "?watch=true")
        self.assertEqual(srv.stop(), 0)
        w.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
