"""A tiny HTTP app using only modules Debian's python3-minimal ships (no http.server, no json)."""

import os
import signal
import socket
import sys
import threading

PORT = int(os.environ.get("PORT", "8000"))
GREETING = os.environ.get("GREETING", "hello")


def respond(conn, status, body):
    reason = {200: "OK", 404: "Not Found"}[status]
    data = body.encode()
    conn.sendall(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data
    )


def handle(conn):
    with conn:
        conn.settimeout(5)
        request = conn.recv(4096).decode("latin-1")
        parts = request.split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        if path == "/health":
            respond(conn, 200, "ok\n")
        elif path == "/":
            respond(conn, 200, f"{GREETING} from clean-stdlib\n")
        else:
            respond(conn, 404, "not found\n")


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", PORT))
    server.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on 0.0.0.0:{PORT}", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
