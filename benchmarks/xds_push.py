#!/usr/bin/env python3
"""How long a large control-plane push takes to apply, and what it costs in memory: Skiff and
Envoy side by side against the same reference control plane (Tests/Support/xds_control_plane.py).

Each round starts the proxy on an ADS bootstrap with an empty snapshot, then pushes N EDS
clusters with M endpoints each (EDS first, then CDS). Measured from the CDS push to:
  - applied:  the admin port reports all N clusters active and none warming;
  - acked:    the control plane has received the EDS ACK of that version.
RSS is read from /proc before the push and one second after it applied.

  benchmarks/xds_push.py --skiff .build-static/release/skiff [--clusters 1000] [--endpoints 10] [--rounds 3]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from bench import envoy_binary, free_port, rss_kib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CP = os.path.join(ROOT, "Tests", "Support", "xds_control_plane.py")
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
EDS = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LDS = "type.googleapis.com/envoy.config.listener.v3.Listener"

BOOTSTRAP = """
node: {{id: bench, cluster: bench}}
admin: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}}}
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    grpc_services: [{{envoy_grpc: {{cluster_name: xds}}}}]
  cds_config: {{ads: {{}}, resource_api_version: V3}}
  lds_config: {{ads: {{}}, resource_api_version: V3}}
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{http2_protocol_options: {{}}}}
    load_assignment:
      cluster_name: xds
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {xds}}}}}}}}}]}}]
"""


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read().decode()


def stats(admin):
    out = {}
    for line in http("GET", f"http://127.0.0.1:{admin}/stats").splitlines():
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            out[name] = int(value)
    return out


def wait(predicate, timeout=120, step=0.01):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(step)
    raise RuntimeError("timed out")


def one_round(kind, args):
    xds, control, admin = free_port(), free_port(), free_port()
    cp = subprocess.Popen([sys.executable, CP, "--port", str(xds), "--control-port", str(control)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{control}"
    wait(lambda: http("GET", base + "/streams") is not None, timeout=20, step=0.05)
    http("POST", base + "/push", {"type_url": CDS, "version": "v1", "resources": []})
    http("POST", base + "/push", {"type_url": LDS, "version": "v1", "resources": []})
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(BOOTSTRAP.format(admin=admin, xds=xds))
        path = f.name
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    if kind == "skiff":
        # info level: Skiff logs how long each response took from arrival to applied on workers.
        cmd = [args.skiff, "-c", path, "--concurrency", "1", "-l", "info"]
    else:
        cmd = [envoy_binary(), "-c", path, "--concurrency", "1", "--disable-hot-restart", "-l", "error"]
    proxy = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=log, stderr=log)
    try:
        wait(lambda: urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1).status == 200, timeout=30)
        time.sleep(1)
        rss_before = rss_kib(proxy.pid)
        n, m = args.clusters, args.endpoints
        assignments = []
        for i in range(n):
            endpoints = [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 20000 + (i * m + j) % 40000}}}}
                         for j in range(m)]
            assignments.append({"@type": EDS, "cluster_name": f"c{i}", "endpoints": [{"lb_endpoints": endpoints}]})
        clusters = [{"@type": CDS, "name": f"c{i}", "type": "EDS", "connect_timeout": "1s",
                     "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}}} for i in range(n)]
        http("POST", base + "/push", {"type_url": EDS, "version": "v2", "resources": assignments})
        start = time.time()
        http("POST", base + "/push", {"type_url": CDS, "version": "v2", "resources": clusters})

        def applied():
            s = stats(admin)
            return s.get("cluster_manager.active_clusters", 0) >= n + 1 and s.get("cluster_manager.warming_clusters", 0) == 0

        wait(applied)
        applied_at = time.time() - start

        def acked():
            requests = json.loads(http("GET", base + "/requests"))
            return any(r.get("type_url") == EDS and r.get("version_info") == "v2" for r in requests)

        wait(acked, step=0.05)
        acked_at = time.time() - start
        time.sleep(1)
        rss_after = rss_kib(proxy.pid)
        result = {"applied_s": applied_at, "acked_s": acked_at, "rss_before_mib": rss_before / 1024,
                  "rss_after_mib": rss_after / 1024, "rss_cost_mib": (rss_after - rss_before) / 1024}
        if kind == "skiff":
            # Inside Skiff: from each response's arrival to applied on every worker (CDS + EDS).
            log.seek(0)
            text = log.read()
            for kind_name in ("cds", "eds"):
                found = re.findall(kind_name + r" version v2: \d+ resources applied in (\d+) ms", text)
                result[f"inside_{kind_name}_ms"] = float(sum(int(m) for m in found))
        return result
    finally:
        proxy.kill()
        proxy.wait()
        cp.kill()
        cp.wait()
        os.unlink(path)
        log.close()
        os.unlink(log.name)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skiff", required=True)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = {"skiff": [], "envoy": []}
    for r in range(args.rounds):
        for kind in ("skiff", "envoy") if r % 2 == 0 else ("envoy", "skiff"):
            result = one_round(kind, args)
            results[kind].append(result)
            print(f"round {r + 1} {kind}: " + ", ".join(f"{k} {v:.2f}" for k, v in result.items()), flush=True)

    def med(kind, key):
        return statistics.median(x[key] for x in results[kind])

    print(f"\n{args.clusters} EDS clusters x {args.endpoints} endpoints, median of {args.rounds} rounds")
    print(f"{'':18}{'skiff':>10}{'envoy':>10}{'ratio':>8}")
    print(f"Skiff inside, arrival to applied on every worker: CDS {med('skiff', 'inside_cds_ms'):.0f} ms, "
          f"EDS {med('skiff', 'inside_eds_ms'):.0f} ms")
    for key in ("applied_s", "acked_s", "rss_before_mib", "rss_after_mib", "rss_cost_mib"):
        s, e = med("skiff", key), med("envoy", key)
        print(f"{key:18}{s:10.2f}{e:10.2f}{(s / e if e else 0):8.2f}")


if __name__ == "__main__":
    main()
