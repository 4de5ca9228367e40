#!/usr/bin/env python3
"""A stand-in for Slack, PagerDuty, Opsgenie, Teams and webhook endpoints (stdlib only).

Listens on 127.0.0.1 (port chosen by the kernel, written as {"port": N} to --port-file once
it accepts connections) and records every request: method, path with query, headers (names
lower-cased), body and arrival time. Paths under /_control/ drive it:

  GET  /_control/requests   the records so far, as a JSON list
  POST /_control/reset      forget records and scripted answers; wake any hanging request
  POST /_control/script     append answers (a JSON list) used in order by the next requests:
                            {"status": 429, "headers": {"Retry-After": "1"}, "body": "..."}
                            {"hang": 30}       wait up to 30 s (or until reset) before answering
                            {"echo": true}     answer with the request's own body
  POST /_control/default    the answer once the script is used up (default: 200 "ok")

Speaks HTTP/1.1 with keep-alive, so clients can reuse connections. Stopped by SIGTERM.
"""
import argparse
import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECORDS = []
SCRIPT = []
DEFAULT = {"status": 200, "body": "ok"}
RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle holds the second until
        # the client's delayed ACK (40 ms) on every reused connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet: tests read records, not logs
        pass

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self, status, body=b"", headers=None, content_type="text/plain"):
        if isinstance(body, str):
            body = body.encode()
        try:
            self.send_response(status)
            hdrs = dict(headers or {})
            hdrs.setdefault("Content-Type", content_type)
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def do_GET(self):
        if self.path == "/_control/requests":
            with LOCK:
                data = json.dumps(RECORDS)
            self._answer(200, data, content_type="application/json")
        else:
            self._record(b"")

    def do_POST(self):
        body = self._body()
        global DEFAULT, RELEASE
        if self.path == "/_control/reset":
            with LOCK:
                RECORDS.clear()
                SCRIPT.clear()
                DEFAULT = {"status": 200, "body": "ok"}
                RELEASE.set()
                RELEASE = threading.Event()
            self._answer(200, "reset")
        elif self.path == "/_control/script":
            with LOCK:
                SCRIPT.extend(json.loads(body))
            self._answer(200, "scripted")
        elif self.path == "/_control/default":
            with LOCK:
                DEFAULT = json.loads(body)
            self._answer(200, "default set")
        else:
            self._record(body)

    def _record(self, body):
        with LOCK:
            RECORDS.append({
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
                "time": time.time(),
            })
            answer = SCRIPT.pop(0) if SCRIPT else dict(DEFAULT)
            release = RELEASE
        if answer.get("hang"):
            release.wait(float(answer["hang"]))
            self.close_connection = True
            return
        reply = body if answer.get("echo") else answer.get("body", "")
        self._answer(int(answer.get("status", 200)), reply, answer.get("headers"),
                     answer.get("content_type", "text/plain"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"port": server.server_address[1]}, f)
    os.replace(tmp, args.port_file)
    server.serve_forever(poll_interval=0.1)


if __name__ == "__main__":
    main()
