"""Helpers the deploy tests share (manifests_test, helm_test, monitoring_test):
offline rendering to JSON objects, looking objects up, collecting failed
expectations, and the mutation runs that prove each check can fail."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get(
    "KCR_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE))
)


def run(cmd, env, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=40)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p.stdout


def json_objects(out):
    """kubectl's JSON output (objects one after another, Lists flattened) -> objects."""
    objs, dec, i = [], json.JSONDecoder(), 0
    while True:
        while i < len(out) and out[i].isspace():
            i += 1
        if i >= len(out):
            return objs
        o, i = dec.raw_decode(out, i)
        objs.extend(o["items"] if o.get("kind") == "List" else [o])


def render(kubectl, env, directory):
    """kubectl kustomize DIR, then YAML -> list of JSON objects, offline."""
    yaml_text = run([kubectl, "kustomize", directory], env)
    docs = [d for d in re.split(r"^---\s*$", yaml_text, flags=re.M) if d.strip()]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml_text)
        path = f.name
    try:
        out = run(
            [kubectl, "patch", "--local", "-f", path, "--type", "merge", "-p", "{}", "-o", "json"], env
        )
    finally:
        os.unlink(path)
    objs = json_objects(out)
    if len(objs) != len(docs):
        raise RuntimeError("kustomize rendered %d documents but %d converted" % (len(docs), len(objs)))
    return objs


def find_helm():
    """$KCR_HELM, else helm next to the control plane's kubectl, else on PATH."""
    if os.environ.get("KCR_HELM"):
        return os.environ["KCR_HELM"]
    sys.path.insert(0, os.path.join(HERE, "..", "controlplane"))
    import controlplane  # noqa: E402
    built = os.path.join(controlplane.bin_dir(), "helm")
    return built if os.access(built, os.X_OK) else shutil.which("helm")


def key(o):
    return (o.get("kind"), o.get("metadata", {}).get("namespace", ""), o.get("metadata", {}).get("name"))


def find(objs, kind, ns=None, name=None):
    return [
        o
        for o in objs
        if o.get("kind") == kind
        and (ns is None or o["metadata"].get("namespace", "") == ns)
        and (name is None or o["metadata"].get("name") == name)
    ]


class Checker:
    """Collects failed expectations instead of stopping at the first."""

    def __init__(self):
        self.failures = []

    def expect(self, cond, what):
        if not cond:
            self.failures.append(what)
        return cond


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def report(label, failures):
    """Prints each failure and the verdict; -> how many failed."""
    for f in failures:
        print("FAIL %s: %s" % (label, f))
    print("%s %s" % ("ok  " if not failures else "FAIL", label))
    return len(failures)


def mutations(check, subject, cases):
    """Runs `check` on a broken copy of subject per (name, mutate) case; only
    failures the mutation introduced count as catching it. A text subject is
    mutated into a new string, objects are changed in place in a deep copy.
    -> how many of the broken copies `check` did NOT catch."""
    before, missed = set(check(subject)), 0
    for name, mutate in cases:
        if isinstance(subject, str):
            broken = mutate(subject)
        else:
            broken = copy.deepcopy(subject)
            mutate(broken)
        caught = [f for f in check(broken) if f not in before]
        outcome = "caught: " + caught[0] if caught else "not caught"
        print("%s mutation %-22s %s" % ("ok  " if caught else "FAIL", name, outcome))
        missed += 0 if caught else 1
    return missed
