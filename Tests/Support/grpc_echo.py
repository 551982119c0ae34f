#!/usr/bin/env python3
"""A real gRPC server and client (grpcio) for Skiff's integration tests, no generated code.

  grpc_echo.py server --port P      serves test.Echo on 127.0.0.1:P until killed
  grpc_echo.py client --target H:P  calls every method through H:P and prints one JSON object

Methods (raw bytes in and out):
  Unary        echoes the request, with trailing metadata x-trailer: unary
  ServerStream sends the request back 5 times ("<req>-0" .. "<req>-4")
  ClientStream joins every message with "+"
  Bidi         echoes each message as it arrives, upper-cased
  Fail         aborts with INVALID_ARGUMENT, details "bad input: <req>", trailer x-reason: test
"""
import argparse, json, signal, sys, time
from concurrent import futures

import grpc


def serve(port):
    def unary(request, context):
        context.set_trailing_metadata((("x-trailer", "unary"),))
        return request

    def server_stream(request, context):
        for i in range(5):
            yield request + b"-" + str(i).encode()

    def client_stream(iterator, context):
        return b"+".join(iterator)

    def bidi(iterator, context):
        for message in iterator:
            yield message.upper()

    def fail(request, context):
        context.set_trailing_metadata((("x-reason", "test"),))
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad input: " + request.decode())

    handler = grpc.method_handlers_generic_handler("test.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    # grpcio's server threads would outlive SIGTERM: stop at once instead.
    signal.signal(signal.SIGTERM, lambda *_: server.stop(0))
    print("ready", flush=True)
    server.wait_for_termination()


def client(target):
    out = {}
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        unary = channel.unary_unary("/test.Echo/Unary")
        response, call = unary.with_call(b"hello", timeout=10)
        out["unary"] = response.decode()
        out["unary_trailer"] = dict(call.trailing_metadata() or ()).get("x-trailer")
        out["server_stream"] = [m.decode() for m in channel.unary_stream("/test.Echo/ServerStream")(b"tick", timeout=10)]
        out["client_stream"] = channel.stream_unary("/test.Echo/ClientStream")(iter([b"a", b"b", b"c"]), timeout=10).decode()

        def paced():
            for word in (b"one", b"two", b"three"):
                yield word
                time.sleep(0.02)
        out["bidi"] = [m.decode() for m in channel.stream_stream("/test.Echo/Bidi")(paced(), timeout=10)]
        try:
            channel.unary_unary("/test.Echo/Fail")(b"x", timeout=10)
            out["fail"] = "no error"
        except grpc.RpcError as error:
            out["fail"] = {"code": error.code().name, "details": error.details(),
                           "trailer": dict(error.trailing_metadata() or ()).get("x-reason")}
        try:
            channel.unary_unary("/test.Missing/Nothing")(b"x", timeout=10)
            out["missing"] = "no error"
        except grpc.RpcError as error:
            out["missing"] = error.code().name
    print(json.dumps(out), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--target")
    args = parser.parse_args()
    if args.mode == "server":
        serve(args.port)
    else:
        client(args.target)


if __name__ == "__main__":
    sys.exit(main())
