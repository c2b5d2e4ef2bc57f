"""hello-app: the smallest web app cockpit deploys. Standard library only (and only the part
that Debian's python3-minimal ships: no http.server, no json), so it runs on the lab's base image.

- listens on 0.0.0.0:$PORT (default 8000)
- GET /up   → 200 "ok" when healthy (500 when HELLO_BROKEN=1: a deliberately broken release)
- HELLO_FAIL_AFTER_S=N: every path, /up included, answers 500 once N seconds have passed since
  the process started (a release that passes its gate and goes bad after the switch)
- GET /     → which release and version this is, and whether SECRET_KEY is set (never its value)
- one log line per request on stdout; SIGTERM stops accepting, finishes requests, exits
"""

import os
import signal
import socket
import sys
import threading
import time

PORT = int(os.environ.get("PORT", "8000"))
HOST = os.environ.get("HOST", "0.0.0.0")
RELEASE = os.environ.get("COCKPIT_RELEASE", "dev")
VERSION = os.environ.get("HELLO_VERSION", "1")
BROKEN = os.environ.get("HELLO_BROKEN", "") == "1"
FAIL_AFTER_S = float(os.environ.get("HELLO_FAIL_AFTER_S", "") or "-1")
STARTED = time.monotonic()
SECRET_NAME = "SECRET_KEY"

stopping = threading.Event()
active = []
active_lock = threading.Lock()


def log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sys.stdout.write(f"{stamp} {message}\n")
    sys.stdout.flush()


def respond(conn, status, body, content_type="text/plain; charset=utf-8"):
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 500: "Server Error",
              400: "Bad Request"}[status]
    data = body.encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(data)}\r\nX-Release: {RELEASE}\r\nConnection: close\r\n\r\n")
    conn.sendall(head.encode() + data)


def page():
    secret = "set" if os.environ.get(SECRET_NAME) else "missing"
    return (f"hello from hello-app\nrelease: {RELEASE}\nversion: {VERSION}\n"
            f"{SECRET_NAME}: {secret}\n")


def handle(conn, addr):
    try:
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3:
            respond(conn, 400, "bad request\n")
            return
        method, path = parts[0], parts[1].split("?", 1)[0]
        if 0 <= FAIL_AFTER_S <= time.monotonic() - STARTED:
            status, body = 500, f"gone bad on purpose after {FAIL_AFTER_S:g}s\n"
        elif method not in ("GET", "HEAD"):
            status, body = 405, "method not allowed\n"
        elif path == "/up":
            status, body = (500, "broken on purpose\n") if BROKEN else (200, "ok\n")
        elif path == "/":
            status, body = 200, page()
        else:
            status, body = 404, "not found\n"
        respond(conn, status, body if method == "GET" else "")
        log(f'{addr[0]} "{method} {path}" {status}')
    except OSError:
        pass
    finally:
        conn.close()
        with active_lock:
            active.remove(threading.current_thread())


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, PORT))
    server.listen(128)
    server.settimeout(0.2)
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    log(f"hello-app release {RELEASE} version {VERSION} listening on {HOST}:{PORT}"
        + (" (broken on purpose)" if BROKEN else "")
        + (f" (goes bad after {FAIL_AFTER_S:g}s)" if FAIL_AFTER_S >= 0 else ""))
    while not stopping.is_set():
        try:
            conn, addr = server.accept()
        except TimeoutError:  # socket.timeout is an alias of it since Python 3.10
            continue
        except OSError:
            break
        worker = threading.Thread(target=handle, args=(conn, addr), daemon=True)
        with active_lock:
            active.append(worker)
        worker.start()
    server.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with active_lock:
            if not active:
                break
        time.sleep(0.05)
    log("hello-app stopped")


if __name__ == "__main__":
    main()
