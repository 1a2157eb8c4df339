"""Test-side helpers for the fake API server: start it as a subprocess,
talk to its API (http.client, TLS with its CA) and control port, and read
raw chunked watch streams chunk by chunk (to check the framing itself)."""

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "fake_apiserver.py")


class FakeServer:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, *args], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if os.environ.get("FAKEAPI_QUIET") else None,
            text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fake_apiserver did not start")
        self.info = json.loads(line)
        self.port = self.info["api_port"]
        self.cport = self.info["control_port"]
        self.tls = self.info["api_url"].startswith("https")
        self.ca_file = self.info["ca_file"]
        self.token = None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    # --- API --------------------------------------------------------------------
    def ssl_context(self, ca=None, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=ca or self.ca_file)
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def conn(self, timeout=15, **tls):
        if self.tls:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout,
                context=self.ssl_context(**tls))
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, token="default",
                ctype="application/json", conn=None, headers=None):
        """-> (status, headers dict, body bytes)."""
        token = self.token if token == "default" else token
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None:
            if not isinstance(body, (bytes, bytearray)):
                body = json.dumps(body).encode()
            h["Content-Type"] = ctype
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if conn is None:
                c.close()

    def api(self, method, path, body=None, **kw):
        """-> (status, parsed JSON body)."""
        code, _, data = self.request(method, path, body, **kw)
        return code, json.loads(data) if data else None

    # --- control ------------------------------------------------------------------
    def ctl(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.cport, timeout=30)
        try:
            h = {"Content-Type": "application/json"} if body is not None else {}
            c.request(method, path, body=None if body is None else
                      json.dumps(body), headers=h)
            r = c.getresponse()
            data = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError(f"control {method} {path}: {r.status} {data}")
            return data
        finally:
            c.close()

    def raw_watch(self, path, token="default", timeout=15):
        token = self.token if token == "default" else token
        return RawStream(self, path, token, timeout)


class RawStream:
    """A GET with a chunked response, read chunk by chunk from the socket."""

    def __init__(self, srv, path, token, timeout):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
        if srv.tls:
            s = srv.ssl_context().wrap_socket(s, server_hostname="127.0.0.1")
        self.sock = s
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if token:
            req += f"Authorization: Bearer {token}\r\n"
        s.sendall((req + "\r\n").encode())
        self.f = s.makefile("rb")
        self.status = int(self.f.readline().split()[1])
        self.headers = {}
        while True:
            line = self.f.readline().decode().strip()
            if not line:
                break
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.ended = False   # zero-size chunk seen
        self.buffer = b""    # bytes of incomplete events across chunks

    def chunk(self):
        """Next chunk payload; b"" at the clean end; raises EOFError on a cut."""
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed without the final chunk")
        size = int(line.strip(), 16)
        if size == 0:
            self.f.readline()
            self.ended = True
            return b""
        data = self.f.read(size)
        if len(data) < size:
            raise EOFError("connection closed in the middle of a chunk")
        if self.f.read(2) != b"\r\n":
            raise EOFError("bad chunk trailer")
        return data

    def events(self, n, chunks_out=None):
        """Read until n complete events (framed by newline-terminated JSON)."""
        out = []
        while len(out) < n:
            c = self.chunk()
            if chunks_out is not None:
                chunks_out.append(c)
            if not c:
                break
            self.buffer += c
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                out.append(json.loads(line))
        return out

    def body(self):
        n = int(self.headers.get("content-length", 0))
        return json.loads(self.f.read(n))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
