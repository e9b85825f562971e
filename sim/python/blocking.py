"""Echo server with blocking sockets: it serves one client at a time.

Run: python3 blocking.py [PORT]   (then: nc 127.0.0.1 PORT)
"""
import socket
import sys


def serve(port):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    print("listening on", server.getsockname()[1], flush=True)
    while True:
        client, address = server.accept()  # blocks until a client connects
        with client:
            try:
                while True:
                    data = client.recv(4096)  # blocks until bytes arrive
                    if not data:
                        break  # the client closed its side
                    client.sendall(data)  # blocks while the send buffer is full
            except ConnectionError as error:
                print("client failed:", error, flush=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8000)
