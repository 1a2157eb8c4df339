"""The image archive of image_test.py: the OCI layout unpacked to a root
filesystem as a runtime would (umoci), and the image's labels against the
version's one source and the tree's revision."""

import json
import os
import re

import harness as H  # test/integration (image_test.py sets the path)

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(kube-chorus-router VERSION ([0-9.]+)",
                         f.read()).group(1)


def blob(layout, digest):
    algo, hexd = digest.split(":")
    with open(os.path.join(layout, "blobs", algo, hexd)) as f:
        return json.load(f)


def unpack(archive, workdir):
    """The OCI archive -> (rootfs path, image config). umoci applies the
    layers (whiteouts included) as a runtime would."""
    layout = os.path.join(workdir, "oci")
    os.makedirs(layout)
    # Unpacking 83 MB takes seconds when idle, more under load.
    H.sh("tar", "-xf", archive, "-C", layout, timeout=300)
    with open(os.path.join(layout, "index.json")) as f:
        [desc] = json.load(f)["manifests"]
    ref = desc.get("annotations", {}).get("org.opencontainers.image.ref.name")
    manifest = blob(layout, desc["digest"])
    config = blob(layout, manifest["config"]["digest"])
    # umoci names an image by its ref.name ("name:tag" parses ambiguously):
    # this throwaway copy of the layout calls it "test".
    desc.setdefault("annotations", {})["org.opencontainers.image.ref.name"] = \
        "test"
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [desc]}, f)
    bundle = os.path.join(workdir, "bundle")
    H.sh("umoci", "unpack", "--image", f"{layout}:test", bundle, timeout=300)
    rootfs = os.path.join(bundle, "rootfs")
    for d in ("proc", "sys", "dev", "run/secrets/kubernetes.io/serviceaccount"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    return rootfs, config, ref, len(manifest["layers"])


def tree_revision():
    """The revision make image would label the image with now."""
    r = H.sh("git", "-C", ROOT, "rev-parse", "--short=12", "HEAD", check=False)
    if r.returncode != 0:
        return "unknown"
    dirty = H.sh("git", "-C", ROOT, "diff", "--quiet", "HEAD", "--",
                 check=False).returncode != 0
    return r.stdout.strip() + ("-dirty" if dirty else "")


def check_labels(config, ref):
    labels = config.get("config", {}).get("Labels") or {}
    want = version()
    got_v = labels.get("org.opencontainers.image.version")
    rev = labels.get("org.opencontainers.image.revision", "")
    print(f"     labels: version {got_v}, revision {rev}; name in the "
          f"archive: {ref}")
    if rev != tree_revision():
        print(f"     NOTE: the archive was built from {rev}, the tree is at "
              f"{tree_revision()} (`make image` rebuilds it)")
    H.check(got_v == want, f"label org.opencontainers.image.version is "
            f"CMakeLists.txt's {want}", got_v)
    H.check(re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", rev),
            "label org.opencontainers.image.revision is a git revision", rev)
    H.check(ref == f"docker.io/library/kube-chorus-router:{want}",
            "the archive names the image as the manifests' "
            f"kube-chorus-router:{want} resolves", ref)

