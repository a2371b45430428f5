#!/usr/bin/env python3
"""elbguard edge demo app: a WebSocket echo server (RFC 6455) on the Python
standard library alone, so the demo instances need no package downloads.

It listens on loopback behind elbguard-proxy and shows the client address
the proxy passed on in X-Real-IP / X-Forwarded-For: with proxy protocol on
the load balancer this is the real client, not the load balancer.

  GET /          a page that opens a WebSocket to /ws and echoes what you type
  GET /ws        WebSocket: greets with the client address, then echoes frames
  GET /healthz   200 ok
"""
import argparse
import base64
import hashlib
import html
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_PAYLOAD = 1 << 20

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>elbguard edge demo</title>
<h1>elbguard edge demo</h1>
<p>The app sees you as <b>{client}</b> (X-Forwarded-For: <code>{xff}</code>).</p>
<p><input id="m" value="hello"> <button onclick="send()">send over WebSocket</button></p>
<pre id="log"></pre>
<script>
const log = (t) => { document.getElementById("log").textContent += t + "\\n"; };
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
ws.onopen = () => log("open");
ws.onmessage = (e) => log("< " + e.data);
ws.onclose = (e) => log("closed " + e.code);
function send() { const m = document.getElementById("m").value; ws.send(m); log("> " + m); }
</script>
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "elbguard-demo-app"

    def client(self):
        return self.headers.get("X-Real-IP") or self.client_address[0]

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client(), fmt % args))

    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, "text/plain", b"ok\n")
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if self.path in ("/", "/index.html"):
            body = PAGE.replace("{client}", html.escape(self.client()))
            body = body.replace("{xff}", html.escape(self.headers.get("X-Forwarded-For", "")))
            return self.reply(200, "text/html; charset=utf-8", body.encode())
        return self.reply(404, "text/plain", b"not found\n")

    def reply(self, code, ctype, body):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def websocket(self):
        key = self.headers.get("Sec-WebSocket-Key", "").strip()
        if not key or self.headers.get("Sec-WebSocket-Version") != "13":
            return self.reply(400, "text/plain", b"bad WebSocket handshake\n")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.close_connection = True
        self.send_frame(0x1, ("connected from %s" % self.client()).encode())
        while True:
            frame = self.read_frame()
            if frame is None:
                return
            fin, opcode, payload = frame
            if opcode == 0x8:  # close: answer with the same status code
                self.send_frame(0x8, payload[:2])
                return
            if opcode == 0x9:  # ping
                self.send_frame(0xA, payload)
            elif opcode in (0x0, 0x1, 0x2):  # data frames, fragments kept as sent
                self.send_frame(opcode, payload, fin)

    def read_exact(self, n):
        data = self.rfile.read(n)
        return data if len(data) == n else None

    def read_frame(self):
        head = self.read_exact(2)
        if head is None:
            return None
        fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
        if not head[1] & 0x80:  # client frames must be masked
            return None
        n = head[1] & 0x7F
        if n >= 126:
            ext = self.read_exact(2 if n == 126 else 8)
            if ext is None:
                return None
            n = struct.unpack("!H" if len(ext) == 2 else "!Q", ext)[0]
        if n > MAX_PAYLOAD:
            return None
        mask = self.read_exact(4)
        data = self.read_exact(n) if n else b""
        if mask is None or data is None:
            return None
        keys = (mask * (n // 4 + 1))[:n]
        payload = (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")
        return fin, opcode, payload

    def send_frame(self, opcode, payload, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, n)
        elif n < 1 << 16:
            head = struct.pack("!BBH", b0, 126, n)
        else:
            head = struct.pack("!BBQ", b0, 127, n)
        self.wfile.write(head + payload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:8080", help="host:port (default 127.0.0.1:8080)")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    sys.stderr.write("elbguard demo app listening on %s\n" % args.listen)
    server.serve_forever()


if __name__ == "__main__":
    main()
