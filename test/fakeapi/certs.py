"""Test PKI for the fake API server, made with the `openssl` CLI:
a CA, a server certificate for 127.0.0.1 / localhost / kubernetes.default.svc
and optionally a client certificate (CN = user name) signed by the same CA."""

import ipaddress
import os
import subprocess


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr}")


def _newkey(cwd, keyfile):
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt",
          "ec_paramgen_curve:prime256v1", "-out", keyfile], cwd)
    os.chmod(os.path.join(cwd, keyfile), 0o600)


def _sign(cwd, name, subject, ext):
    _newkey(cwd, name + ".key")
    _run(["req", "-new", "-key", name + ".key", "-subj", subject,
          "-out", name + ".csr"], cwd)
    with open(os.path.join(cwd, name + ".ext"), "w") as f:
        f.write(ext)
    _run(["x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
          "ca.key", "-CAcreateserial", "-days", "3650", "-sha256",
          "-extfile", name + ".ext", "-out", name + ".crt"], cwd)
    for suffix in (".csr", ".ext"):
        os.unlink(os.path.join(cwd, name + suffix))


def ensure_server_pki(tls_dir, host):
    """Create ca.crt/ca.key/server.crt/server.key in tls_dir unless present."""
    os.makedirs(tls_dir, exist_ok=True)
    need = ("ca.crt", "server.crt", "server.key")
    if all(os.path.exists(os.path.join(tls_dir, f)) for f in need):
        return
    _newkey(tls_dir, "ca.key")
    _run(["req", "-x509", "-new", "-key", "ca.key", "-days", "3650",
          "-sha256", "-subj", "/CN=fake-kube-apiserver-ca",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-out", "ca.crt"], tls_dir)
    sans = ["IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes",
            "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local"]
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified and f"IP:{ip}" not in sans:
            sans.append(f"IP:{ip}")
    except ValueError:
        if host and f"DNS:{host}" not in sans:
            sans.append(f"DNS:{host}")
    if "IP:::1" not in sans:
        sans.append("IP:::1")
    _sign(tls_dir, "server", "/CN=kube-apiserver",
          "basicConstraints=CA:FALSE\n"
          "keyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth\n"
          f"subjectAltName={','.join(sans)}\n")


def make_client_cert(tls_dir, cn, name="client"):
    """DIR/<name>.crt + .key with CN=cn, signed by DIR's CA (clientAuth)."""
    _sign(tls_dir, name, f"/CN={cn}",
          "basicConstraints=CA:FALSE\n"
          "keyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=clientAuth\n")
