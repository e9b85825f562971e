"""Echo server on a hand-made event loop: a selector says which sockets are
ready, and the loop runs the callback registered for each.
No callback catches a client's error: one reset connection ends the server.
Ctrl-C shuts it down gracefully.

Run: python3 selector_unhandled.py [PORT [GRACE_SECONDS]]   (then: nc 127.0.0.1 PORT)
"""
import selectors
import signal
import socket
import sys
import time

selector = selectors.DefaultSelector()
pending = {}  # client socket -> bytes received, not yet echoed


def accept(server):
    client, address = server.accept()  # ready, so it does not block
    client.setblocking(False)
    selector.register(client, selectors.EVENT_READ, receive)


def receive(client):
    data = client.recv(4096)  # ready, so it does not block
    if not data:
        selector.unregister(client)
        pending.pop(client, None)
        client.close()
        return
    pending[client] = data
    selector.modify(client, selectors.EVENT_WRITE, send)


def send(client):
    sent = client.send(pending[client])  # ready: there is room to send
    pending[client] = pending[client][sent:]
    if not pending[client]:
        selector.modify(client, selectors.EVENT_READ, receive)


def serve(port, grace):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.setblocking(False)
    selector.register(server, selectors.EVENT_READ, accept)
    # Ctrl-C writes a byte to `wakeup`: a signal is one more ready socket.
    wakeup, signal_end = socket.socketpair()
    signal_end.setblocking(False)
    signal.set_wakeup_fd(signal_end.fileno())
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    deadline = None  # when a shutdown's grace period ends

    def shut_down(wakeup):
        nonlocal deadline
        selector.unregister(wakeup)
        selector.unregister(server)
        server.close()  # stop accepting
        deadline = time.monotonic() + grace  # the clients may finish until then

    selector.register(wakeup, selectors.EVENT_READ, shut_down)
    print("listening on", server.getsockname()[1], flush=True)
    while deadline is None or selector.get_map():
        timeout = 1 if deadline is None else max(0, deadline - time.monotonic())
        for key, mask in selector.select(timeout=timeout):  # sleeps until a socket is ready
            callback = key.data
            callback(key.fileobj)
        if deadline is not None and time.monotonic() >= deadline:
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # the grace period is over
    print("shut down", flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    grace = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    serve(port, grace)
