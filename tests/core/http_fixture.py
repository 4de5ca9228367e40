#!/usr/bin/env python3
"""A scripted HTTP/1.1 server on 127.0.0.1 for test_httpsvc.c (Python stdlib only).

Prints its port on the first line of stdout, then serves until killed. With --tls CERT KEY
it serves HTTPS. Counts TCP connections and requests; a request line in absolute form
(http://host/path, as sent to a proxy) is served by path and counted as proxied.

  /ok                 200 "hello"
  /echo-auth          200 with the Authorization header as the body
  /busy/N             503 with Retry-After: 1 the first N times, then 200 "done"
  /limit              429 with Retry-After: 1
  /status/CODE        that status, body "status CODE"
  /big                2 MiB body
  /hang               no answer for 30 s
  /stats              {"connections": n, "requests": n, "proxied": n}
"""
import json
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
stats = {"connections": 0, "requests": 0, "proxied": 0}
busy = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with lock:
            stats["connections"] += 1

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path
        proxied = path.startswith("http://")
        if proxied:
            path = urllib.parse.urlsplit(path).path
        with lock:
            stats["requests"] += 1
            stats["proxied"] += proxied
        if path == "/ok":
            self.reply(200, b"hello")
        elif path == "/echo-auth":
            self.reply(200, (self.headers.get("Authorization") or "").encode())
        elif path.startswith("/busy/"):
            with lock:
                seen = busy.get(path, 0)
                busy[path] = seen + 1
            if seen < int(path.split("/")[2]):
                self.reply(503, b"busy", [("Retry-After", "1")])
            else:
                self.reply(200, b"done")
        elif path == "/limit":
            self.reply(429, b"slow down", [("Retry-After", "1")])
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            self.reply(code, ("status %d" % code).encode())
        elif path == "/big":
            self.reply(200, b"x" * (2 << 20))
        elif path == "/hang":
            time.sleep(30)
            self.reply(200, b"late")
        elif path == "/stats":
            with lock:
                self.reply(200, json.dumps(stats).encode())
        else:
            self.reply(404, b"no such path")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
