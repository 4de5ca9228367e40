#!/usr/bin/env python3
"""An HTTP proxy in front of one etcd member that loses one answer: the first /v3/kv/txn whose
success branch puts a key containing MATCH is sent on to etcd (so it is applied) and its
answer is never given back (the connection is held, then closed). Every other request goes
through unchanged. What a client sees when a member applies a write and then fails, or a
network drops the answer: its request times out, it tries another endpoint, and finds its
own write there.

With BLACKOUT (seconds), every request that comes in that long after the lost answer gets
no answer either (the connection is closed): a member, or the only route to the cluster, that
fails right after applying a write.

    etcd_lost_answer.py PORT ETCD_URL MATCH [BLACKOUT]
"""
import base64
import http.server
import json
import sys
import threading
import time
import urllib.request

PORT, ETCD, MATCH = int(sys.argv[1]), sys.argv[2], sys.argv[3]
BLACKOUT = float(sys.argv[4]) if len(sys.argv) > 4 else 0
lost = threading.Event()
lost_at = [0.0]


def puts(body):
    try:
        txn = json.loads(body)
    except ValueError:
        return []
    keys = []
    for op in txn.get("success", []):
        put = op.get("request_put") or op.get("requestPut") or {}
        if put.get("key"):
            keys.append(base64.b64decode(put["key"]).decode("utf-8", "replace"))
    return keys


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if lost.is_set() and time.time() - lost_at[0] < BLACKOUT:
            self.close_connection = True
            return
        req = urllib.request.Request(ETCD + self.path, data=body,
                                     headers={"Content-Type": "application/json"})
        if self.headers.get("Authorization"):
            req.add_header("Authorization", self.headers["Authorization"])
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, answer = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read()
        if self.path == "/v3/kv/txn" and not lost.is_set() and \
                any(MATCH in k for k in puts(body)):
            lost_at[0] = time.time()
            lost.set()
            print("lost the answer of a txn putting %s" % puts(body), flush=True)
            time.sleep(4)  # longer than the client's timeout
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
