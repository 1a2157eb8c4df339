"""e2e: all instances (the controller and the agents, or the combined node
instances) restarted one by one -> same assignments and zero lost packets in a
continuous ping (every 50 ms) from the device to every pod: the data plane does
not depend on the control plane."""
import signal
import subprocess
import time

from e2e_common import all_reachable, check, cl, run, timed


def body(c):
    all_reachable(c)
    before = {i: c.overlay_ip(i) for i in c.nodes}
    pings = {i: subprocess.Popen(cl.netns.exec_argv(c.dev, ["ping", "-n", "-i", "0.05", "-W", "1",
                                                             cl.pod_ip(i)]),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in c.nodes}
    try:
        time.sleep(0.5)
        for name in c.instances():
            rc = c.stop_instance(name)
            check(rc == 0, f"{name}'s instance exits 0 on SIGTERM", f"exit {rc}")
            time.sleep(0.5)  # the node runs without its instance for a while
            c.start_instance(name)
            took = timed(lambda: c.instance_ready(name), 10, f"{name} ready again")
            print(f"     {name} restarted, ready in {took * 1000:.0f} ms")
        time.sleep(1)
    finally:
        for p in pings.values():
            p.send_signal(signal.SIGINT)
    for i, p in pings.items():
        out = p.communicate(timeout=10)[0]
        replies, lost = cl.netns.ping_lost(out)
        print(f"     ping pod-{i}: {replies} replies, lost icmp_seq {lost or 'none'}")
        check(replies > 20 and not lost,
              f"zero lost packets to pod-{i} across the restarts", out.strip().splitlines()[-2:])
    after = {i: c.overlay_ip(i) for i in c.nodes}
    check(before == after, f"same assignments after the restarts {after}", f"before {before}")


run(body, tag="e2rst")
