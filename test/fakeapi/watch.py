"""Watch streams: chunked JSON events like kube-apiserver's watch cache.

- RV unset/0 (or sendInitialEvents=true): synthetic ADDED for every object,
  then (with bookmarks) a BOOKMARK annotated k8s.io/initial-events-end.
- RV = N: the changes after N from the history; below the compaction window
  -> 200 + one ERROR Status event (reason Expired, code 410), then the end.
- BOOKMARKs every bookmark_interval and ~2 s before the timeoutSeconds
  deadline; at the deadline the body ends cleanly (zero-size chunk).
- Selectors: an object that starts/stops matching becomes ADDED/DELETED.
- Framing: one chunk per event, or events split into N-byte chunks
  (watch_chunk_bytes), or all pending events in one chunk (coalesce_events).
"""

import random
import socket
import time

import k8s_status as st
import resources as R
from store import event_line

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
LIVENESS_SECONDS = 5.0


class _Aborted(Exception):
    pass


class WatchStream:
    def __init__(self, handler, state, res, ns, q, fields, labels):
        self.h, self.state, self.store = handler, state, state.store
        self.res, self.ns = res, ns
        self.fields, self.labels = fields, labels
        self.bookmarks = q.get("allowWatchBookmarks") == "true"
        self.rv_param = q.get("resourceVersion") or ""
        self.send_initial = q.get("sendInitialEvents") == "true"
        t = q.get("timeoutSeconds")
        # without timeoutSeconds the real server picks minRequestTimeout * [1, 2)
        self.timeout = float(t) if t else 1800 * (1 + random.random())
        self.id = state.next_watch_id()
        self.sock = handler.connection
        self.aborted = False  # set by the drop_watches / refuse faults

    # --- filtering ----------------------------------------------------------
    def _in_scope(self, c):
        if c.res is not self.res:
            return False
        return not (self.res.namespaced and self.ns
                    and not c.key.startswith(self.ns + "/"))

    def _match(self, entry):
        return R.matches(entry.obj, self.fields, self.labels)

    def _lines(self, changes):
        """(type, Entry, line bytes) for the changes this watch can see."""
        out = []
        plain = not self.fields and not self.labels
        for c in changes:
            if not self._in_scope(c):
                continue
            if plain:
                out.append((c.type, c.entry, c.line))
                continue
            now = c.type != "DELETED" and self._match(c.entry)
            was = c.prev is not None and self._match(c.prev)
            if c.type == "DELETED":
                now, was = False, self._match(c.prev)
            if now and was:
                out.append(("MODIFIED", c.entry, c.line))
            elif now:
                out.append(("ADDED", c.entry, event_line("ADDED", c.entry)))
            elif was:
                t = "DELETED"
                out.append((t, c.entry, c.line if c.type == t
                            else event_line(t, c.entry)))
        return out

    # --- output ---------------------------------------------------------------
    def _write_chunks(self, data):
        n = self.state.config.watch_chunk_bytes
        if n and n > 0:
            parts = [data[i:i + n] for i in range(0, len(data), n)]
        else:
            parts = [data]
        buf = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
        self.h.wfile.write(buf)

    def _send(self, events):
        """events: [(type, Entry|None, line)]; honours coalescing/drop faults."""
        if not events:
            return
        if self.state.faults.take_drop_mid_event():
            line = events[0][2]
            half = line[:max(1, len(line) // 2)]
            self.h.wfile.write(b"%x\r\n%s" % (len(line), half))
            raise _Aborted()
        if self.state.config.coalesce_events:
            self._write_chunks(b"".join(e[2] for e in events))
        else:
            for e in events:
                self._write_chunks(e[2])
        t = time.time()
        logs = self.state.logs
        for type_, entry, _ in events:
            if entry is not None and type_ in ("ADDED", "MODIFIED", "DELETED"):
                md = entry.obj["metadata"]
                logs.add("emitted", {"t": t, "type": type_,
                                     "kind": self.res.kind,
                                     "name": md.get("name"),
                                     "namespace": md.get("namespace"),
                                     "resourceVersion": md["resourceVersion"],
                                     "watch_id": self.id})

    def _bookmark(self, rv, initial_end=False):
        md = {"resourceVersion": str(rv)}
        if initial_end:
            md["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version,
               "metadata": md}
        line = b'{"type":"BOOKMARK","object":%s}\n' % st.dumps(obj).encode()
        return ("BOOKMARK", None, line)

    def _error_line(self, err):
        return ("ERROR", None, b'{"type":"ERROR","object":%s}\n' % err.body())

    # --- the stream -------------------------------------------------------------
    def serve(self):
        store, cfg = self.store, self.state.config
        initial = []
        with store.cond:
            if self.send_initial or self.rv_param in ("", "0"):
                pos = store.rv
                initial = [(k, e) for k, e in store.items(self.res, self.ns)
                           if self._match(e)]
            else:
                try:
                    pos = int(self.rv_param)
                except ValueError:
                    raise st.bad_request(
                        f'resourceVersion: Invalid value: "{self.rv_param}": '
                        f'strconv.ParseUint: parsing "{self.rv_param}": '
                        f'invalid syntax') from None
                if pos < store.compacted_rv:
                    err = st.too_old_rv(pos, store.compacted_rv)
                    if cfg.expired_as_http_410:
                        raise err
                    self._start()
                    self._send([self._error_line(err)])
                    self._end()
                    return
        self._start()
        self.state.conns.add(self.sock, self)
        try:
            self._loop(pos, initial)
        except _Aborted:
            self._abort()
        except (OSError, ValueError):  # client went away or socket was cut
            self.h.close_connection = True
        finally:
            self.state.conns.remove(self.sock, self)

    def _peer_gone(self):
        """True when the client closed its end (peek at the raw socket)."""
        try:
            return socket.socket.recv(
                self.sock, 1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _start(self):
        self.h.wfile.write(
            ("HTTP/1.1 200 OK\r\nDate: %s\r\nContent-Type: application/json\r\n"
             "Cache-Control: no-cache, private\r\nTransfer-Encoding: chunked\r\n"
             "\r\n" % self.h.date_time_string()).encode())
        self.h.status_sent = 200
        self.h.log_request_record()

    def _end(self):
        self.h.wfile.write(b"0\r\n\r\n")

    def _abort(self):
        self.h.close_connection = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _loop(self, pos, initial):
        store, cfg = self.store, self.state.config
        start = time.monotonic()
        deadline = start + self.timeout
        pre_deadline = deadline - 2  # bookmark ~2 s before the deadline
        next_bm = start + cfg.bookmark_interval
        if pre_deadline > start:
            next_bm = min(next_bm, pre_deadline)
        if initial:
            self._send([("ADDED", e, event_line("ADDED", e)) for _, e in initial])
        if self.bookmarks and (initial or self.send_initial
                               or self.rv_param in ("", "0")):
            self._send([self._bookmark(pos, initial_end=True)])
        # kube-apiserver sends a periodic / pre-deadline bookmark only when its
        # RV is newer than the one the watch started from (none on a quiet
        # cluster); later ones may repeat an RV already sent.
        start_rv = pos
        while True:
            events, expired = [], None
            with store.cond:
                while True:
                    if self.aborted or self.state.stopping.is_set():
                        raise _Aborted()
                    if store.rv > pos:
                        if pos < store.compacted_rv:
                            expired = st.too_old_rv(pos, store.compacted_rv)
                            break
                        events = self._lines(store.changes_after(pos))
                        pos = store.rv
                        if events:
                            break
                    now = time.monotonic()
                    wake = min(deadline, next_bm if self.bookmarks else deadline)
                    if now >= wake:
                        break
                    # wake now and then to notice clients that hung up
                    if not store.cond.wait(min(wake - now, LIVENESS_SECONDS)):
                        if self._peer_gone():
                            raise _Aborted()
                bm_rv = pos
            if self._peer_gone():  # never spend a one-shot fault on a dead peer
                raise _Aborted()
            if expired is not None:
                self._send([self._error_line(expired)])
                self._end()
                return
            self._send(events)
            now = time.monotonic()
            if now >= deadline:
                self._end()
                return
            if self.bookmarks and now >= next_bm:
                if bm_rv > start_rv:
                    self._send([self._bookmark(bm_rv)])
                next_bm = now + cfg.bookmark_interval
                if pre_deadline > now:
                    next_bm = min(next_bm, pre_deadline)

