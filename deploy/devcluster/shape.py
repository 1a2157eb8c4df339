"""The shape the dev cluster runs the binary in.

  split     what deploy/kubernetes installs: controller instances (the publisher
            role, `--run-tunnel=false`, leader election) on the controller's
            ServiceAccount, each in a host of its own, and one agent per node
            host (`--run-publisher=false`) on the agents' ServiceAccount. An
            agent learns its overlay address from its own Node's annotation
            kube-chorus-router.io/overlay-ip, written by the leading controller.
  combined  every node instance runs both roles on the controller's
            ServiceAccount (the single-process mode; the only shape of binaries
            whose tunnel role still reads the ConfigMap).
  auto      split when the binary has the annotation-based agent, else
            combined (the reason is logged).
"""

import subprocess

SHAPES = ("auto", "split", "combined")


def binary_has_agent(binary):
    """The annotation-based agent came with the controller's Node annotations
    (and their rate flag): its --help mentions them; an older binary's does not."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True,
                         timeout=10).stdout
    return "annotation" in out.lower()


def resolve(shape, binary):
    """-> (split or combined, why)."""
    if shape != "auto":
        return shape, "asked for"
    if binary_has_agent(binary):
        return "split", "auto: the binary's agent reads its own Node's annotation"
    return "combined", "auto: the binary has no annotation-based agent (its --help mentions none)"
