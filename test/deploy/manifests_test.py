#!/usr/bin/env python3
"""Checks the Kubernetes deployment in deploy/kubernetes as the cluster sees it.

Renders deploy/kubernetes and deploy/kubernetes/cleanup with `kubectl kustomize`,
turns the YAML into JSON offline (`kubectl patch --local` with an empty merge
patch: no API server, no discovery), and asserts the properties the issue asks
for, for both workloads of one install:
- the agents' DaemonSet (--run-publisher=false): host networking, NET_ADMIN-only
  security context, every taint tolerated;
- the controller's Deployment (--run-tunnel=false): 2 replicas spread over
  nodes, a PodDisruptionBudget, no host network, no capability, not root;
- for both: probes, resources, the shared settings ConfigMap, downward-API env,
  selectors that do not overlap, and least-privilege RBAC per ServiceAccount
  (compared grant by grant against a table each, so any extra permission fails).

It also checks deploy/Dockerfile: Debian 12 stages, USER 0, the binary as
entrypoint, and (when the binary is built) that every shared library it links
comes from a package the runtime stage installs.

Every check also runs against deliberately broken copies of the manifests and
the Dockerfile (privileged, an extra capability, a `*` verb, a missing library,
...) and must catch each one: a check that cannot fail is not a check.

The parts: manifests_expected.py (names, image, ports, settings),
manifests_rbac.py (the grant tables and the RBAC checks), manifests_checks.py
(the workload and cleanup checks), manifests_mutations.py (the broken copies),
dockerfile_check.py (the Dockerfile); deploycheck.py (shared with helm_test
and monitoring_test: rendering, lookups, the mutation runs).

Exit 0 = pass, 1 = failure, 77 = skipped (no kubectl), as ctest expects.
Python standard library only.
"""

import os
import shutil
import sys
import tempfile

import deploycheck as D
from dockerfile_check import DOCKERFILE_MUTATIONS, check_dockerfile, read_dockerfile
from manifests_checks import check_cleanup, check_main
from manifests_expected import CLEANUP_DIR, MAIN_DIR
from manifests_mutations import CLEANUP_MUTATIONS, MUTATIONS


def main():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("SKIP: kubectl is not installed (needed for `kubectl kustomize`)")
        return 77
    home = tempfile.mkdtemp(prefix="kcr-manifests-")
    try:
        # Own HOME (kubectl caches there) and an empty kubeconfig: nothing here
        # may reach a cluster.
        kubeconfig = os.path.join(home, "kubeconfig")
        open(kubeconfig, "w").close()
        env = dict(os.environ, HOME=home, KUBECONFIG=kubeconfig)
        main_objs = D.render(kubectl, env, MAIN_DIR)
        cleanup_objs = D.render(kubectl, env, CLEANUP_DIR)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for d, objs in ((MAIN_DIR, main_objs), (CLEANUP_DIR, cleanup_objs)):
        names = ", ".join("%s/%s" % (k[0], k[2]) for k in map(D.key, objs))
        print("rendered %s: %s" % (os.path.relpath(d, D.SOURCE_DIR), names))

    binary = os.path.join(os.environ.get("KCR_BINARY_DIR", "/nonexistent"), "kube-chorus-router")
    if not os.path.isfile(binary):
        binary = None
        print("note: Dockerfile runtime packages not compared with the binary's libraries (not built)")
    dockerfile_mutations = [(n, m) for n, m, needs_binary in DOCKERFILE_MUTATIONS if binary or not needs_binary]
    # (label, check: subject -> failures, subject, mutations)
    suites = [
        ("deploy/kubernetes", check_main, main_objs, MUTATIONS),
        ("deploy/kubernetes/cleanup", check_cleanup, cleanup_objs, CLEANUP_MUTATIONS),
        ("deploy/Dockerfile", lambda text: check_dockerfile(text, binary), read_dockerfile(), dockerfile_mutations),
    ]
    failed = sum(D.report(label, check(subject)) for label, check, subject, _ in suites)
    missed = sum(D.mutations(check, subject, cases) for _, check, subject, cases in suites)
    total = sum(len(cases) for *_, cases in suites)
    print("%d failed expectations, %d/%d mutations caught" % (failed, total - missed, total))
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main())
