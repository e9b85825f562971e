"""Echo server with non-blocking sockets polled in a loop: everyone is served,
and one CPU spins at 100% trying sockets that have nothing to say.
Ctrl-C shuts it down gracefully.

Run: python3 busy_poll.py [PORT [GRACE_SECONDS]]   (then: nc 127.0.0.1 PORT)
"""
import signal
import socket
import sys
import time

stop_requested = False


def request_stop(signum, frame):
    global stop_requested
    stop_requested = True  # the loop sees it on its next pass


def serve(port, grace):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.setblocking(False)
    print("listening on", server.getsockname()[1], flush=True)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    pending = {}  # client socket -> bytes received, not yet echoed
    deadline = None  # when a shutdown's grace period ends
    while deadline is None or pending:
        if stop_requested and deadline is None:
            server.close()  # stop accepting
            deadline = time.monotonic() + grace  # the clients may finish until then
        if deadline is None:
            try:
                client, address = server.accept()
                client.setblocking(False)
                pending[client] = b""
            except BlockingIOError:
                pass  # would block: nobody is connecting
        for client in list(pending):
            try:
                if pending[client]:
                    sent = client.send(pending[client])
                    pending[client] = pending[client][sent:]
                    continue
                data = client.recv(4096)
                if not data:
                    del pending[client]  # the client closed its side
                    client.close()
                    continue
                pending[client] = data
            except BlockingIOError:
                pass  # would block: no bytes yet, or no room to send
            except ConnectionError as error:
                print("client failed:", error, flush=True)
                del pending[client]
                client.close()
        if deadline is not None and time.monotonic() >= deadline:
            for client in pending:
                client.close()  # the grace period is over
            pending.clear()
    print("shut down", flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    grace = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    serve(port, grace)
