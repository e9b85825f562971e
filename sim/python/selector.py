"""Echo server on a hand-made event loop: a selector says which sockets are
ready, and the loop runs the callback registered for each.

Run: python3 selector.py [PORT]   (then: nc 127.0.0.1 PORT)
"""
import selectors
import socket
import sys

selector = selectors.DefaultSelector()
pending = {}  # client socket -> bytes received, not yet echoed


def accept(server):
    client, address = server.accept()  # ready, so it does not block
    client.setblocking(False)
    selector.register(client, selectors.EVENT_READ, receive)


def receive(client):
    try:
        data = client.recv(4096)  # ready, so it does not block
    except ConnectionError as error:
        print("client failed:", error, flush=True)
        data = b""
    if not data:
        selector.unregister(client)
        pending.pop(client, None)
        client.close()
        return
    pending[client] = data
    selector.modify(client, selectors.EVENT_WRITE, send)


def send(client):
    try:
        sent = client.send(pending[client])  # ready: there is room to send
    except ConnectionError as error:
        print("client failed:", error, flush=True)
        selector.unregister(client)
        pending.pop(client, None)
        client.close()
        return
    pending[client] = pending[client][sent:]
    if not pending[client]:
        selector.modify(client, selectors.EVENT_READ, receive)


def serve(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.setblocking(False)
    selector.register(server, selectors.EVENT_READ, accept)
    print("listening on", server.getsockname()[1], flush=True)
    while True:
        for key, mask in selector.select(timeout=1):  # sleeps until a socket is ready
            callback = key.data
            callback(key.fileobj)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
