"""Step 5 of rbac_real_test.py: each account's effective permissions
(SelfSubjectRulesReview with its token, minus what an unbound account has)
against the needed set, printed as tables with what the binary used."""

import cluster as C  # test/integration/cluster.py (rbac_real_test.py sets the path)
import harness as H
from manifests_rbac import EXPECTED_GRANTS
from rbac_requests import NS

# Namespaces to read the effective rules in; kube-public has no Role of
# the product: what shows there is cluster-wide.
REVIEWED = (NS, "default", "kube-public")


def rules_of(h, token, ns):
    """SelfSubjectRulesReview -> {(group, resource, verb): names or None}."""
    ssrr = h.cluster.cp.api("POST", "/apis/authorization.k8s.io/v1/"
                            "selfsubjectrulesreviews", {
                                "apiVersion": "authorization.k8s.io/v1",
                                "kind": "SelfSubjectRulesReview",
                                "spec": {"namespace": ns}}, token=token)
    out = {}
    for r in ssrr["status"]["resourceRules"]:
        names = r.get("resourceNames")
        for g in r.get("apiGroups", []):
            for res in r.get("resources", []):
                for v in r.get("verbs", []):
                    k = (g, res, v)
                    if names and out.get(k, ()) is not None:
                        out[k] = tuple(sorted(set(out.get(k, ())) | set(names)))
                    else:
                        out[k] = None
    return out


def effective_grants(h, token):
    """An account's grants as EXPECTED_GRANTS spells them: (namespace or ""
    for cluster-wide, group, resource, verb) -> resourceNames or None."""
    nobody = h.cluster.cp.token("kcr-rbac-nobody", NS)  # no binding at all
    per_ns = {}
    for ns in REVIEWED:
        base = rules_of(h, nobody, ns)
        per_ns[ns] = {k: v for k, v in rules_of(h, token, ns).items()
                      if k not in base}
    wide = per_ns["kube-public"]
    grants = {("",) + k: v for k, v in wide.items()}
    for ns in (NS, "default"):
        for k, v in per_ns[ns].items():
            if wide.get(k, 0) != v:
                grants[(ns,) + k] = v
    return grants


def print_can_i(h, user):
    for ns in (NS, "default"):
        out = C.kubectl(h.cluster.cp, h.cluster.home, "auth", "can-i",
                        "--list", f"--as={user}", "-n", ns)
        print(f"     kubectl auth can-i --list --as={user} -n {ns}:")
        for line in out.splitlines():
            print(f"       {line}")


def print_table(grants, used):
    print(f"     {'namespace':<12} {'resource':<32} {'verb':<7} "
          f"{'names':<20} used by the binary")
    for k in sorted(grants, key=lambda k: (k[0], k[2], k[3])):
        ns, g, res, verb = k
        names = ",".join(grants[k]) if grants[k] else "*"
        print(f"     {ns or '(cluster)':<12} {res + ('.' + g if g else ''):<32}"
              f" {verb:<7} {names:<20} {'yes' if k in used else 'no'}")


def used_grants(requests):
    """The (namespace, group, resource, verb) the binary's requests used."""
    return {(r["namespace"], r["group"], r["resource"], r["verb"])
            for r in requests if r["resource"] and not r["subresource"]}


def check_table(h, sa, user, token, requests):
    """The account's effective permissions equal its needed set, and the
    binary's requests (audit log) stayed inside them."""
    print_can_i(h, user)
    grants = effective_grants(h, token)
    used = used_grants(requests)
    print(f"     effective permissions of ServiceAccount {sa} "
          "(SelfSubjectRulesReview minus an unbound ServiceAccount's):")
    print_table(grants, used)
    expected = EXPECTED_GRANTS[sa]
    extra = {k: v for k, v in grants.items() if expected.get(k, 0) != v}
    missing = {k: v for k, v in expected.items() if k not in grants}
    H.check(not extra and not missing, f"{sa}: the effective permissions "
            "equal the needed set (test/deploy/manifests_rbac.py "
            "EXPECTED_GRANTS)", {"extra or different": extra,
                                 "missing": missing})
    # A cluster-wide grant covers the same request in every namespace.
    beyond = sorted(k for k in used
                    if k not in grants and ("",) + k[1:] not in grants)
    H.check(not beyond, f"{sa}: the binary used only granted permissions",
            beyond)
