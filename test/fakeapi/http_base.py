"""HTTP/1.1 plumbing shared by the API and control servers: keep-alive
responses written in one send, request bodies with a size limit (plain or
chunked), optional TLS on accepted sockets and quiet error handling."""

import http.server
import socket
import ssl
import sys
import threading

import k8s_status as st


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # watch events must not wait for ACKs
    server_version = "fake-kube-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        if getattr(self.server, "verbose", False):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def send_bytes(self, code, body, ctype="application/json", headers=None):
        """A complete response (status line, headers, body) in one write."""
        reason = self.responses.get(code, ("",))[0]
        head = [f"HTTP/1.1 {code} {reason}",
                f"Date: {self.date_time_string()}",
                f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        if self.command == "HEAD":
            data = data[:len(data) - len(body)]
        self.wfile.write(data)
        self.status_sent = code

    def send_error_status(self, err, headers=None):
        h = dict(headers or {})
        h.update(err.headers)
        self.send_bytes(err.code, err.body(), headers=h)

    def read_body(self, limit):
        """Request body bytes; ApiError 413 beyond `limit` (body drained)."""
        self.body_consumed = True
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline(1024)
                total += size
                if total <= limit:
                    out.append(chunk)
            if total > limit:
                raise st.too_large_body(limit)
            return b"".join(out)
        n = int(self.headers.get("Content-Length") or 0)
        if n > limit:
            left = n
            while left > 0:  # drain so the connection stays usable
                got = self.rfile.read(min(left, 1 << 20))
                if not got:
                    break
                left -= len(got)
            raise st.too_large_body(limit)
        return self.rfile.read(n) if n else b""


class Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that does the TLS handshake in the connection's
    thread (never in the accept loop) and tracks open connections."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, ssl_ctx=None, conns=None, verbose=False):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.ssl_ctx = ssl_ctx
        self.conns = conns
        self.verbose = verbose
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        tls = None
        if self.ssl_ctx is not None:
            try:
                request.settimeout(10)
                tls = self.ssl_ctx.wrap_socket(request, server_side=True)
                tls.settimeout(None)
                request = tls
            except (ssl.SSLError, OSError) as e:
                if self.verbose:
                    sys.stderr.write(f"TLS handshake failed: {e}\n")
                return
        if self.conns is not None:
            self.conns.add(request)
        try:
            self.RequestHandlerClass(request, client_address, self)
        finally:
            if self.conns is not None:
                self.conns.remove(request)
            if tls is not None:
                try:
                    tls.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                tls.close()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, OSError)):
            return  # clients hanging up are normal
        super().handle_error(request, client_address)


def start(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True)
    t.start()
    return t
