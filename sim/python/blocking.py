"""Echo server with blocking sockets: it serves one client at a time.
Ctrl-C shuts it down gracefully.

Run: python3 blocking.py [PORT [GRACE_SECONDS]]   (then: nc 127.0.0.1 PORT)
"""
import signal
import socket
import sys


class GraceOver(Exception):
    """The shutdown's grace period ended while a client was being served."""


def serve(port, grace):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    print("listening on", server.getsockname()[1], flush=True)

    def shut_down(signum, frame):
        server.close()  # stop accepting
        signal.signal(signal.SIGALRM, end_grace)
        signal.setitimer(signal.ITIMER_REAL, grace)  # the client being served may finish

    def end_grace(signum, frame):
        raise GraceOver()  # the grace period is over

    signal.signal(signal.SIGINT, shut_down)
    signal.signal(signal.SIGTERM, shut_down)
    try:
        while True:
            try:
                client, address = server.accept()  # blocks until a client connects
            except OSError:
                break  # the listener is closed: no more clients
            with client:
                try:
                    while True:
                        data = client.recv(4096)  # blocks until bytes arrive
                        if not data:
                            break  # the client closed its side
                        client.sendall(data)  # blocks while the send buffer is full
                except ConnectionError as error:
                    print("client failed:", error, flush=True)
    except GraceOver:
        pass  # `with client:` closed the connection still served
    signal.setitimer(signal.ITIMER_REAL, 0)
    print("shut down", flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    grace = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    serve(port, grace)
