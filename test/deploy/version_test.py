"""The version has one source, `project(... VERSION)` in CMakeLists.txt:
every place that must spell it out (the kustomize image tags, the Helm chart)
agrees with it, deploy/set-version.sh rewrites them all (tried on a scratch
copy), the Dockerfile takes it as a build argument, and the built binary's
--version prints it with the git revision it was built from; --help names
the `render` subcommand."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.environ.get(
    "KCR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
FAILED = []


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        FAILED.append(what)


def places(root):
    """Every place that spells the version out, as {description: value}."""
    def grab(path, pattern):
        text = open(os.path.join(root, path)).read()
        m = re.search(pattern, text, re.M)
        return m.group(1) if m else None
    return {
        "CMakeLists.txt project()": grab("CMakeLists.txt",
                                         r"^project\(kube-chorus-router VERSION ([0-9.]+) "),
        "deploy/kubernetes newTag": grab("deploy/kubernetes/kustomization.yaml",
                                         r"^    newTag: (\S+)"),
        "deploy/kubernetes/cleanup newTag": grab("deploy/kubernetes/cleanup/kustomization.yaml",
                                                 r"^    newTag: (\S+)"),
        "Chart.yaml version": grab("deploy/helm/kube-chorus-router/Chart.yaml",
                                   r"^version: (\S+)"),
        "Chart.yaml appVersion": grab("deploy/helm/kube-chorus-router/Chart.yaml",
                                      r'^appVersion: "(\S+)"'),
    }


def script(root, *args):
    return subprocess.run([os.path.join(root, "deploy", "set-version.sh"), *args],
                          capture_output=True, text=True)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: version_test.py BINARY")
    binary = sys.argv[1]
    found = places(SOURCE_DIR)
    version = found["CMakeLists.txt project()"]
    check(bool(version), "CMakeLists.txt has the project version", found)
    for where, value in found.items():
        check(value == version, f"{where} is {version}", value)
    check(script(SOURCE_DIR).stdout.strip() == version, "set-version.sh prints it")
    for path in ["deploy/kubernetes/daemonset.yaml", "deploy/kubernetes/deployment.yaml",
                 "deploy/kubernetes/cleanup/daemonset.yaml"]:
        text = open(os.path.join(SOURCE_DIR, path)).read()
        check(f"kube-chorus-router:{version}" not in text, f"{path} leaves the tag to kustomize")
    docker = open(os.path.join(SOURCE_DIR, "deploy", "Dockerfile")).read()
    check(not re.search(r'image\.version="\d', docker),
          "the Dockerfile's version label is a build argument, not a literal")

    # set-version.sh on a scratch copy of the files it writes.
    with tempfile.TemporaryDirectory() as tmp:
        for path in ["CMakeLists.txt", "deploy/set-version.sh",
                     "deploy/kubernetes/kustomization.yaml",
                     "deploy/kubernetes/cleanup/kustomization.yaml",
                     "deploy/helm/kube-chorus-router/Chart.yaml"]:
            os.makedirs(os.path.dirname(os.path.join(tmp, path)), exist_ok=True)
            shutil.copy2(os.path.join(SOURCE_DIR, path), os.path.join(tmp, path))
        r = script(tmp, "9.8.7")
        check(r.returncode == 0, "set-version.sh 9.8.7 exits 0", r.stderr)
        moved = places(tmp)
        check(all(v == "9.8.7" for v in moved.values()), "every place now says 9.8.7", moved)
        r = script(tmp, "banana")
        check(r.returncode == 2 and "banana" in r.stderr, "a bad version: exit 2 naming it",
              (r.returncode, r.stderr))

    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", SOURCE_DIR, "rev-parse", "--short=12", "HEAD"],
                         capture_output=True, text=True)
    m = re.fullmatch(r"kube-chorus-router (\S+) \(git (\S+)\)", out)
    check(bool(m), "--version prints 'kube-chorus-router VERSION (git REVISION)'", out)
    if m:
        check(m.group(1) == version, f"--version says {version}", m.group(1))
        if git.returncode == 0:
            # Configured from this checkout: its HEAD (possibly with -dirty) or, when commits
            # came after the configure, an older one of its history.
            rev = m.group(2).removesuffix("-dirty")
            known = subprocess.run(["git", "-C", SOURCE_DIR, "cat-file", "-e", rev + "^{commit}"])
            check(known.returncode == 0, f"the revision {m.group(2)} is a commit of this checkout")
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    check("render" in helptext and "render --help" in helptext, "--help names the render subcommand")

    print(f"{len(FAILED)} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
