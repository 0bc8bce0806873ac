#!/usr/bin/env python3
"""Raw-socket probes of an HTTP server's edges (a client we wrote only for this, no HTTP library
that would refuse to send such requests): prints one JSON object.

usage: http_edges.py PORT
  long_url     status and body of a GET with a 9,000-byte query string
  big_headers  status and body of a GET with a 40,000-byte header
  head         the status line, headers and any bytes after them of HEAD /healthz
  slow_headers seconds until the server closed a connection whose header block never ended
  slow_body    seconds until the server cut a body arriving at 1 byte a second
The two slow probes run side by side (about 30 s in all), each under a 60 s deadline.
"""
import json
import socket
import sys
import threading
import time

port = int(sys.argv[1])


def exchange(raw, timeout=10):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(timeout)
    s.sendall(raw)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return status, headers, body


out = {}
status, headers, body = exchange(b"GET /healthz?x=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
out["long_url"] = {"status": status, "content_type": headers.get("content-type"), "body": body.decode("utf-8", "replace")}
status, headers, body = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
out["big_headers"] = {"status": status, "content_type": headers.get("content-type"), "body": body.decode("utf-8", "replace")}
status, headers, body = exchange(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout=5)
out["head"] = {"status": status, "content_length": headers.get("content-length"), "after_headers": len(body)}


def slow_headers():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(60)
    t = time.time()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    try:
        while s.recv(100):
            pass
    except OSError:
        pass
    out["slow_headers"] = round(time.time() - t, 1)


def slow_body():
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(60)
    t = time.time()
    s.sendall(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    try:
        while time.time() - t < 60:
            s.sendall(b"a")
            time.sleep(1)
    except OSError:
        pass
    out["slow_body"] = round(time.time() - t, 1)


threads = [threading.Thread(target=slow_headers), threading.Thread(target=slow_body)]
for th in threads:
    th.start()
for th in threads:
    th.join()
print(json.dumps(out))
