#!/usr/bin/env python3
"""A scriptable ADS control plane for Skiff's tests, built on Envoy's published API (xds-protos).

It serves envoy.service.discovery.v3.AggregatedDiscoveryService, both state of the world
(StreamAggregatedResources) and incremental (DeltaAggregatedResources), the way Envoy's own
control planes do (go-control-plane's semantics): LDS and CDS responses carry every resource of
the type, RDS, EDS and SDS responses carry the subscribed names the snapshot has.

Tests drive it over a small JSON API on --control-port:

  POST /push      {"type_url": ..., "version": "v2", "resources": [<Envoy JSON with "@type">]}
                  replaces the snapshot of one type and pushes it to every open stream.
  POST /raw       {"type_url": ..., "version": ..., "nonce": ..., "resources": [...]}
                  sends one SotW response exactly as given (for stale-nonce tests).
  GET  /requests  every request received so far, as Envoy JSON plus "stream" and "kind".
  GET  /responses every response sent: stream, type_url, version, nonce.
  GET  /streams   how many ADS streams are open.
  POST /quit      stops the server.

Run: xds_control_plane.py --port P --control-port C [--uds PATH]
It prints "READY" on stdout once both ports listen.
"""

import argparse
import hashlib
import json
import os
import queue
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.protobuf import any_pb2, json_format

# Importing the modules registers every message type the resources use.
from envoy.config.cluster.v3 import cluster_pb2  # noqa: F401
from envoy.config.endpoint.v3 import endpoint_pb2  # noqa: F401
from envoy.config.listener.v3 import listener_pb2  # noqa: F401
from envoy.config.route.v3 import route_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2  # noqa: F401
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2  # noqa: F401
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from envoy.service.secret.v3 import sds_pb2_grpc

WILDCARD_TYPES = {
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
}


def resource_name(any_msg):
    """The name of a packed resource (ClusterLoadAssignment names itself cluster_name)."""
    as_dict = json_format.MessageToDict(any_msg, preserving_proto_field_name=True)
    return as_dict.get("name") or as_dict.get("cluster_name") or ""


class Snapshot:
    """The resources of every type, shared by all streams."""

    def __init__(self):
        self.lock = threading.Lock()
        self.types = {}  # type_url -> (version, {name: Any})

    def set(self, type_url, version, resources):
        with self.lock:
            self.types[type_url] = (version, resources)

    def get(self, type_url):
        with self.lock:
            return self.types.get(type_url)


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.responses = []
        self.streams = {}
        self.next_stream = 1

    def record(self, stream_id, kind, request):
        entry = json_format.MessageToDict(request, preserving_proto_field_name=True)
        entry["stream"] = stream_id
        entry["kind"] = kind
        with self.lock:
            self.requests.append(entry)

    def sent(self, stream_id, response):
        version = getattr(response, "version_info", "") or getattr(response, "system_version_info", "")
        with self.lock:
            self.responses.append({"stream": stream_id, "type_url": response.type_url, "version": version, "nonce": response.nonce})

    def open(self, stream):
        with self.lock:
            stream_id = self.next_stream
            self.next_stream += 1
            self.streams[stream_id] = stream
            return stream_id

    def close(self, stream_id):
        with self.lock:
            self.streams.pop(stream_id, None)

    def open_streams(self):
        with self.lock:
            return list(self.streams.values())


class SotwStream:
    """One StreamAggregatedResources stream: what each type subscribed to and was last sent."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.out = queue.Queue()
        self.lock = threading.Lock()
        self.names = {}  # type_url -> set of names (empty: wildcard)
        self.sent_version = {}  # type_url -> version last sent
        self.nonce = 0

    def next_nonce(self):
        self.nonce += 1
        return str(self.nonce)

    def on_request(self, request):
        with self.lock:
            type_url = request.type_url
            names = set(request.resource_names)
            changed = self.names.get(type_url) != names
            self.names[type_url] = names
            first = type_url not in self.sent_version
            if first or changed:
                self.respond(type_url, force=changed)

    def on_push(self, type_url):
        with self.lock:
            if type_url in self.names:
                self.respond(type_url, force=True)

    def respond(self, type_url, force):
        current = self.snapshot.get(type_url)
        if current is None:
            return
        version, resources = current
        names = self.names.get(type_url, set())
        wildcard = type_url in WILDCARD_TYPES or not names or "*" in names
        chosen = list(resources.values()) if wildcard else [resources[n] for n in sorted(names) if n in resources]
        if not wildcard and not chosen:
            return
        if not force and self.sent_version.get(type_url) == version:
            return
        self.sent_version[type_url] = version
        response = discovery_pb2.DiscoveryResponse(
            version_info=version, type_url=type_url, nonce=self.next_nonce(), resources=chosen
        )
        self.out.put(response)

    def raw(self, type_url, version, nonce, resources):
        self.out.put(discovery_pb2.DiscoveryResponse(version_info=version, type_url=type_url, nonce=nonce, resources=resources))


class DeltaStream:
    """One DeltaAggregatedResources stream: subscriptions and the versions the client holds."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self.out = queue.Queue()
        self.lock = threading.Lock()
        self.subscribed = {}  # type_url -> set of names; "*" for wildcard
        self.known = {}  # type_url -> {name: version}
        self.nonce = 0

    def on_request(self, request):
        with self.lock:
            type_url = request.type_url
            subs = self.subscribed.setdefault(type_url, set())
            known = self.known.setdefault(type_url, {})
            if not request.response_nonce:
                # A new stream (or a new type): the client says what it already has.
                known.update(dict(request.initial_resource_versions))
                if not request.resource_names_subscribe and type_url in WILDCARD_TYPES:
                    subs.add("*")
            subs.update(request.resource_names_subscribe)
            for name in request.resource_names_unsubscribe:
                subs.discard(name)
                known.pop(name, None)
            if request.response_nonce and not request.resource_names_subscribe and not request.resource_names_unsubscribe:
                return  # a plain ACK or NACK
            self.respond(type_url)

    def on_push(self, type_url):
        with self.lock:
            if type_url in self.subscribed:
                self.respond(type_url)

    def respond(self, type_url):
        current = self.snapshot.get(type_url)
        if current is None:
            return
        system_version, resources = current
        subs = self.subscribed.get(type_url, set())
        known = self.known.setdefault(type_url, {})
        wildcard = "*" in subs
        send, removed = [], []
        for name, res in sorted(resources.items()):
            if not wildcard and name not in subs:
                continue
            version = hashlib.sha256(res.SerializeToString(deterministic=True)).hexdigest()[:16]
            if known.get(name) != version:
                known[name] = version
                send.append(discovery_pb2.Resource(name=name, version=version, resource=res))
        for name in list(known):
            if name not in resources and (wildcard or name in subs):
                removed.append(name)
                known.pop(name)
        if not send and not removed:
            return
        self.nonce += 1
        self.out.put(
            discovery_pb2.DeltaDiscoveryResponse(
                system_version_info=system_version, type_url=type_url, nonce=str(self.nonce),
                resources=send, removed_resources=removed,
            )
        )


class ADS(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):
    def __init__(self, snapshot, recorder):
        self.snapshot = snapshot
        self.recorder = recorder

    def serve(self, stream, kind, request_iterator, context):
        stream_id = self.recorder.open(stream)
        done = threading.Event()

        def read():
            try:
                for request in request_iterator:
                    self.recorder.record(stream_id, kind, request)
                    stream.on_request(request)
            except Exception:
                pass
            finally:
                done.set()
                stream.out.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            while context.is_active():
                try:
                    item = stream.out.get(timeout=0.5)
                except queue.Empty:
                    if done.is_set():
                        break
                    continue
                if item is None:
                    break
                self.recorder.sent(stream_id, item)
                yield item
        finally:
            self.recorder.close(stream_id)

    def StreamAggregatedResources(self, request_iterator, context):
        yield from self.serve(SotwStream(self.snapshot), "sotw", request_iterator, context)

    def DeltaAggregatedResources(self, request_iterator, context):
        yield from self.serve(DeltaStream(self.snapshot), "delta", request_iterator, context)


class SDS(sds_pb2_grpc.SecretDiscoveryServiceServicer):
    """SDS on its own service (istio-agent's shape): the same state-of-the-world stream as ADS."""

    def __init__(self, ads):
        self.ads = ads

    def StreamSecrets(self, request_iterator, context):
        yield from self.ads.serve(SotwStream(self.ads.snapshot), "sds", request_iterator, context)


def pack(resource_json):
    message = any_pb2.Any()
    json_format.ParseDict(resource_json, message)
    return message


def control_handler(snapshot, recorder, server, stop):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/requests":
                with recorder.lock:
                    self.reply(200, list(recorder.requests))
            elif self.path == "/responses":
                with recorder.lock:
                    self.reply(200, list(recorder.responses))
            elif self.path == "/streams":
                self.reply(200, {"open": len(recorder.open_streams())})
            else:
                self.reply(404, {"error": "no such path"})

        def do_POST(self):
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            try:
                if self.path == "/push":
                    resources = {}
                    for item in body["resources"]:
                        packed = pack(item)
                        resources[resource_name(packed)] = packed
                    snapshot.set(body["type_url"], body["version"], resources)
                    for stream in recorder.open_streams():
                        stream.on_push(body["type_url"])
                    self.reply(200, {"pushed": len(resources)})
                elif self.path == "/raw":
                    resources = [pack(item) for item in body["resources"]]
                    for stream in recorder.open_streams():
                        if isinstance(stream, SotwStream):
                            stream.raw(body["type_url"], body["version"], body["nonce"], resources)
                    self.reply(200, {"sent": len(resources)})
                elif self.path == "/quit":
                    self.reply(200, {})
                    stop.set()
                else:
                    self.reply(404, {"error": "no such path"})
            except Exception as error:  # a test's mistake: say what it was
                self.reply(400, {"error": str(error)})

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uds", default="")
    parser.add_argument("--control-port", type=int, required=True)
    args = parser.parse_args()

    snapshot = Snapshot()
    recorder = Recorder()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    ads = ADS(snapshot, recorder)
    ads_pb2_grpc.add_AggregatedDiscoveryServiceServicer_to_server(ads, server)
    sds_pb2_grpc.add_SecretDiscoveryServiceServicer_to_server(SDS(ads), server)
    if args.uds:
        server.add_insecure_port("unix:" + args.uds)
    else:
        server.add_insecure_port("127.0.0.1:%d" % args.port)
    server.start()

    stop = threading.Event()

    # Never outlive the test process that started us (its cleanup may not run if it exits first).
    parent = os.getppid()

    def watch_parent():
        while not stop.is_set():
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch_parent, daemon=True).start()
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), control_handler(snapshot, recorder, server, stop))
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print("READY", flush=True)
    stop.wait()
    server.stop(0)
    control.shutdown()


if __name__ == "__main__":
    sys.exit(main())
