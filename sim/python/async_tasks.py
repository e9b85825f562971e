"""Echo server with asyncio: one task per client, each suspended at `await`
until its socket is ready. Ctrl-C shuts it down gracefully, under one of four
policies: grace_then_cancel (the default), cancel_at_once, wait_for_everyone,
notify_first.

Run: python3 async_tasks.py [PORT [GRACE_SECONDS [POLICY]]]   (then: nc 127.0.0.1 PORT)
"""
import asyncio
import signal
import socket
import sys

GOODBYE = b"server shutting down, goodbye\n"
POLICIES = ("grace_then_cancel", "cancel_at_once", "wait_for_everyone", "notify_first")


async def handle(loop, client):
    with client:
        try:
            while True:
                data = await loop.sock_recv(client, 4096)  # suspends until readable
                if not data:
                    break  # the client closed its side
                await loop.sock_sendall(client, data)  # suspends while the buffer is full
        except ConnectionError as error:
            print("client failed:", error, flush=True)


async def accept_forever(loop, server, clients):
    while True:
        client, address = await loop.sock_accept(server)  # suspends until a client connects
        client.setblocking(False)
        task = loop.create_task(handle(loop, client))
        clients[task] = client
        task.add_done_callback(clients.pop)


async def main(port, grace, policy):
    loop = asyncio.get_running_loop()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen()
    server.setblocking(False)
    print("listening on", server.getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    clients = {}  # each running task -> its client's socket
    acceptor = loop.create_task(accept_forever(loop, server, clients))
    await stop.wait()
    acceptor.cancel()  # stop accepting
    server.close()
    tasks = list(clients)
    if policy == "grace_then_cancel" and tasks:
        done, still_running = await asyncio.wait(tasks, timeout=grace)  # let them finish
        for task in still_running:
            task.cancel()  # the grace period is over
        await asyncio.gather(*still_running, return_exceptions=True)
    elif policy == "cancel_at_once":
        for task in tasks:
            task.cancel()  # cancel at once
        await asyncio.gather(*tasks, return_exceptions=True)
    elif policy == "wait_for_everyone":
        await asyncio.gather(*tasks, return_exceptions=True)  # wait for everyone, no deadline
    elif policy == "notify_first":
        for task, client in list(clients.items()):
            try:
                client.send(GOODBYE)  # say goodbye, never waiting for room
            except (BlockingIOError, ConnectionError):
                pass  # a client that reads nothing (or is gone) misses it
            task.cancel()  # then close it
        await asyncio.gather(*tasks, return_exceptions=True)
    print("shut down", flush=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    grace = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    policy = sys.argv[3] if len(sys.argv) > 3 else "grace_then_cancel"
    if policy not in POLICIES:
        sys.exit("POLICY is one of: " + ", ".join(POLICIES))
    asyncio.run(main(port, grace, policy))
