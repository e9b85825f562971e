"""Echo server with non-blocking sockets polled in a loop: everyone is served,
and one CPU spins at 100% trying sockets that have nothing to say.

Run: python3 busy_poll.py [PORT]   (then: nc 127.0.0.1 PORT)
"""
import socket
import sys


def serve(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.setblocking(False)
    print("listening on", server.getsockname()[1], flush=True)
    pending = {}  # client socket -> bytes received, not yet echoed
    while True:
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


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
