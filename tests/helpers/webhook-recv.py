#!/usr/bin/env python3
"""webhook-recv: a webhook receiver on loopback for the notification tests.

    webhook-recv.py PORT FILE [MAX_SECONDS]

Appends one line per POST to FILE: the path, a space, the body (newlines removed). A path
starting with /hang is answered only after 30 s (a webhook that stalls); everything else gets
200 at once. Exits after MAX_SECONDS (default 300) whatever happens, so a dead test never
leaves it behind.
"""
import http.server
import sys
import threading
import time

port, path = int(sys.argv[1]), sys.argv[2]
limit = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
out = open(path, "ab", buffering=0)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(min(n, 1 << 20))
        out.write(self.path.encode() + b" " + body.replace(b"\n", b" ") + b"\n")
        if self.path.startswith("/hang"):
            time.sleep(30)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
srv.daemon_threads = True
threading.Timer(limit, lambda: srv.shutdown()).start()
srv.serve_forever()
