"""deploy/Dockerfile (manifests_test.py): the image's stages, USER and
ENTRYPOINT, and its runtime packages against what the built binary links; with
broken copies of the text the check must catch."""

import os
import re
import shutil
import subprocess

from deploycheck import SOURCE_DIR, Checker, run

# In debian:12-slim already (Essential or required by apt).
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}


def runtime_stage_packages(text):
    """Packages `apt-get install`ed in the last stage (the image that ships)."""
    last = re.split(r"^FROM\s", text, flags=re.M)[-1]
    m = re.search(r"apt-get install([^&]*)", last.replace("\\\n", " "))
    return {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}


def read_dockerfile():
    with open(os.path.join(SOURCE_DIR, "deploy", "Dockerfile"), encoding="utf-8") as f:
        return f.read()


def check_dockerfile(text, binary):
    """The image's stages, and its runtime packages against what the built binary links."""
    c = Checker()
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.M)
    c.expect(froms == ["debian:12", "debian:12-slim"], "Dockerfile stages %r, want debian:12, debian:12-slim" % froms)
    c.expect("install-deps.sh" in text, "Dockerfile builder does not use deploy/install-deps.sh")
    c.expect(re.search(r"^USER 0\s*$", text, flags=re.M), "Dockerfile: no USER 0")
    c.expect(
        re.search(r'^ENTRYPOINT \["/usr/local/bin/kube-chorus-router"\]', text, flags=re.M),
        "Dockerfile: ENTRYPOINT is not the binary",
    )
    with open(os.path.join(SOURCE_DIR, ".dockerignore"), encoding="utf-8") as f:
        ignored = f.read().split()
    c.expect({".git", "build", "build-*"} <= set(ignored), ".dockerignore lacks .git or build trees")
    packages = runtime_stage_packages(text)
    if not binary or not shutil.which("readelf") or not shutil.which("dpkg"):
        return c.failures
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", run(["readelf", "-d", binary], os.environ))
    for lib in needed:
        p = subprocess.run(["dpkg", "-S", "*/" + lib], capture_output=True, text=True)
        owners = {line.split(":")[0] for line in p.stdout.splitlines() if line.strip()}
        c.expect(owners, "%s: no Debian package ships it" % lib)
        c.expect(
            not owners or owners & (packages | BASE_PACKAGES),
            "%s (package %s) is not installed in the runtime stage" % (lib, ", ".join(sorted(owners))),
        )
    return c.failures


def _sub(old, new):
    return lambda text: text.replace(old, new)


# (name, mutation of the Dockerfile's text, needs the built binary to be caught)
DOCKERFILE_MUTATIONS = [
    ("docker runtime base", _sub("FROM debian:12-slim", "FROM ubuntu:24.04"), False),
    ("docker user", _sub("USER 0", "USER 65534"), False),
    ("docker entrypoint", _sub('ENTRYPOINT ["/usr/local/bin/kube-chorus-router"]', 'ENTRYPOINT ["/bin/sh"]'), False),
    ("docker missing lib", _sub("libnl-route-3-200", ""), True),
]

