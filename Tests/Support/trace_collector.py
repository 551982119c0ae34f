#!/usr/bin/env python3
"""A trace collector for Skiff's tracing tests: what an OTLP collector and a Zipkin server receive.

    trace_collector.py server --port P --grpc-port G

- OTLP/gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export` on 127.0.0.1:G
  (grpcio, with the message types from opentelemetry-proto / xds-protos; no generated stubs).
- HTTP on 127.0.0.1:P: `POST /api/v2/spans` takes Zipkin v2 JSON; `GET /spans` returns
  `{"otlp": [...], "zipkin": [...]}` with every span received so far (OTLP spans flattened: hex
  ids, kind and status names, attributes and resource attributes as plain dicts);
  `DELETE /spans` forgets them.
"""
import argparse
import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

LOCK = threading.Lock()
OTLP = []
ZIPKIN = []


def any_value(value):
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def flatten(request):
    out = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
        scopes = list(getattr(resource_spans, "scope_spans", [])) or list(
            getattr(resource_spans, "instrumentation_library_spans", []))
        for scope_spans in scopes:
            scope = getattr(scope_spans, "scope", None) or getattr(scope_spans, "instrumentation_library", None)
            for span in scope_spans.spans:
                out.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "trace_state": span.trace_state,
                    "name": span.name,
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind),
                    "start_time_unix_nano": span.start_time_unix_nano,
                    "end_time_unix_nano": span.end_time_unix_nano,
                    "status": {"code": trace_pb2.Status.StatusCode.Name(span.status.code), "message": span.status.message},
                    "attributes": {kv.key: any_value(kv.value) for kv in span.attributes},
                    "resource": resource,
                    "scope": {"name": scope.name, "version": scope.version} if scope else {},
                })
    return out


def export(request, context):
    spans = flatten(request)
    with LOCK:
        OTLP.extend(spans)
    return trace_service_pb2.ExportTraceServiceResponse()


class HTTP(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length", "0")))

    def do_POST(self):
        body = self.read_body()
        if self.path != "/api/v2/spans":
            return self.reply(404, {})
        try:
            spans = json.loads(body)
        except ValueError:
            return self.reply(400, {})
        with LOCK:
            ZIPKIN.extend(spans)
        self.send_response(202)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_GET(self):
        if self.path != "/spans":
            return self.reply(404, {})
        with LOCK:
            self.reply(200, {"otlp": list(OTLP), "zipkin": list(ZIPKIN)})

    def do_DELETE(self):
        with LOCK:
            OTLP.clear()
            ZIPKIN.clear()
        self.reply(200, {})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    args = parser.parse_args()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.unary_unary_rpc_method_handler(
        export,
        request_deserializer=trace_service_pb2.ExportTraceServiceRequest.FromString,
        response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))
    server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")
    server.start()
    ThreadingHTTPServer(("127.0.0.1", args.port), HTTP).serve_forever()


if __name__ == "__main__":
    main()
