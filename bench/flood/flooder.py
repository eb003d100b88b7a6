"""A hostile Server-Sent Events gateway for bench/flood/run.sh.

Serves COUNT events of SIZE bytes of junk (not JSON), each with its own id,
as fast as the client reads them, then keeps the connection open with
keep-alive comments. Standard library only.
"""

import http.server
import socketserver
import sys
import time

COUNT = int(sys.argv[2])
SIZE = int(sys.argv[3])


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        start = int(self.headers.get("Last-Event-ID", "0") or 0)
        junk = b"x" * SIZE
        try:
            for i in range(start + 1, COUNT + 1):
                self.wfile.write(b"id: %d\ndata: " % i + junk + b"\n\n")
            while True:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
