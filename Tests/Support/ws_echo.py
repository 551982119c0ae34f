#!/usr/bin/env python3
"""A real WebSocket server and client (PyPI `websockets`) for Skiff's integration tests.

  ws_echo.py server --port P     serves on 127.0.0.1:P until killed
  ws_echo.py client --uri URI    runs the conversation below through URI, prints one JSON object

The server speaks first: right after the handshake it sends "hello <path>" (so its first frame
can share a TCP segment with the 101). It then echoes every message, text or binary, and answers
the text "bye" by closing with code 4000, reason "done".

The client reads the greeting, sends 50 small text messages, one 1 MiB binary message and 20
messages without waiting for their echoes (pipelined), checks every echo, then says "bye" and
reports the close code.
"""
import argparse, asyncio, json, os, signal, sys


async def serve(port):
    from websockets.asyncio.server import serve as ws_serve

    async def handler(ws):
        await ws.send("hello " + ws.request.path)
        async for message in ws:
            if message == "bye":
                await ws.close(4000, "done")
                return
            await ws.send(message)

    async with ws_serve(handler, "127.0.0.1", port, max_size=4 * 1024 * 1024):
        print("ready", flush=True)
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
        await stop


async def client(uri):
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    out = {"errors": []}
    async with connect(uri, max_size=4 * 1024 * 1024, open_timeout=10, close_timeout=5) as ws:
        out["greeting"] = await asyncio.wait_for(ws.recv(), 10)
        echoed = 0
        for i in range(50):
            await ws.send(f"message {i}")
            reply = await asyncio.wait_for(ws.recv(), 10)
            if reply == f"message {i}":
                echoed += 1
            else:
                out["errors"].append(f"message {i} came back as {reply!r}")
        out["text_echoed"] = echoed
        big = os.urandom(1024 * 1024)
        await ws.send(big)
        out["binary_echoed"] = (await asyncio.wait_for(ws.recv(), 20)) == big
        for i in range(20):
            await ws.send(f"burst {i}")
        burst = [await asyncio.wait_for(ws.recv(), 10) for _ in range(20)]
        out["burst_in_order"] = burst == [f"burst {i}" for i in range(20)]
        await ws.send("bye")
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            out["close_code"] = closed.rcvd.code if closed.rcvd else None
            out["close_reason"] = closed.rcvd.reason if closed.rcvd else None
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--uri")
    args = parser.parse_args()
    if args.mode == "server":
        asyncio.run(serve(args.port))
    else:
        try:
            result = asyncio.run(client(args.uri))
        except Exception as error:  # reported, so the test shows what went wrong
            result = {"failure": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
