#!/usr/bin/env python3
"""HTTP/2 through Skiff and Envoy side by side: h2load (nghttp2) requests/s at one proxy core.

Same pinning as bench.py: each proxy at --concurrency 1 on CPU 0, h2load and the upstream (Skiff's
built-in app) on CPU 1, rounds alternating which proxy goes first. Two paths, both with a
prior-knowledge h2c client (h2load, 10 connections x 10 concurrent streams):

  h2 -> HTTP/1.1   the listener speaks HTTP/2 to the client, the cluster HTTP/1.1 to the app
                   (a sidecar in front of an HTTP/1.1 service)
  h2 -> h2         HTTP/2 on both sides, the cluster multiplexing streams on h2c connections
                   (sidecar to sidecar, gRPC)

Every request must succeed: a run with failed or non-2xx requests is reported as such.
Everything targets 127.0.0.1. Processes are stopped by the PID this script started.

  python3 benchmarks/h2.py --skiff .build-static/release/skiff [--rounds 3 --duration 10]
"""
import os, re, shutil, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import HTTP_FILTER, alternate_rounds, comparison_parser, cpu_seconds, free_port, print_medians, running_proxy  # noqa: E402

CLUSTER = """
  - name: {name}
    type: STATIC
    connect_timeout: 1s{protocol}
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}"""

H2C_CLUSTER = """
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }"""


def bootstrap(admin, h1_listener, h2_listener, app_h1, app_h2):
    def listener(name, port, cluster):
        return f"""
  - name: {name}
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:""" + HTTP_FILTER.format(name=name, cluster=cluster)

    return (f"""
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
static_resources:
  listeners:""" + listener("to_h1", h1_listener, "app_h1") + listener("to_h2", h2_listener, "app_h2") + """
  clusters:""" + CLUSTER.format(name="app_h1", port=app_h1, protocol="")
            + CLUSTER.format(name="app_h2", port=app_h2, protocol=H2C_CLUSTER) + "\n")


def h2load(port, duration, proxy_pid, connections=10, streams=10):
    """h2load for `duration` seconds (after a 1 s warm-up run), and the proxy's CPU time per
    request over the measured run: the client shares a core with the upstream and this VM is
    noisy, so CPU per request is the steadier measure of the proxy's own cost."""
    def run(seconds):
        return subprocess.run(
            ["taskset", "-c", "1", "h2load", "-c", str(connections), "-m", str(streams), "-t", "1",
             "-D", str(seconds), f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, check=True).stdout
    run(1)
    before = cpu_seconds(proxy_pid)
    out = run(duration)
    cpu = cpu_seconds(proxy_pid) - before
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    done = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[mean.group(2)]
    return {"rps": rps, "succeeded": int(done.group(3)), "failed": int(done.group(4)) + int(done.group(5)),
            "non2xx": sum(int(codes.group(i)) for i in (2, 3, 4)), "mean_ms": float(mean.group(1)) * scale,
            "cpu_us": 1e6 * cpu / max(int(done.group(2)), 1)}


def measure(kind, args, app_h1, app_h2):
    ports = {"admin": free_port(), "h1": free_port(), "h2": free_port()}
    yaml = bootstrap(ports["admin"], ports["h1"], ports["h2"], app_h1, app_h2)
    with running_proxy(kind, args, yaml, ports["admin"]) as proc:
        time.sleep(1)
        to_h1 = h2load(ports["h1"], args.duration, proc.pid)
        to_h2 = h2load(ports["h2"], args.duration, proc.pid)
        return {"h1_rps": to_h1["rps"], "h1_mean_ms": to_h1["mean_ms"], "h1_cpu_us": to_h1["cpu_us"],
                "h2_rps": to_h2["rps"], "h2_mean_ms": to_h2["mean_ms"], "h2_cpu_us": to_h2["cpu_us"],
                "bad": to_h1["failed"] + to_h1["non2xx"] + to_h2["failed"] + to_h2["non2xx"]}


def main():
    args = comparison_parser().parse_args()
    if not shutil.which("h2load"):
        sys.exit("h2load is missing: apt-get install nghttp2-client")

    app_h1, app_h2 = free_port(), free_port()
    apps = [
        subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "h1", "--port", str(app_h1)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "h2", "--port", str(app_h2), "--http2"],
                         stdout=subprocess.DEVNULL),
    ]
    time.sleep(1)

    def describe(r):
        return (f"h2->h1 {r['h1_rps']:7.0f} req/s {r['h1_cpu_us']:5.1f} us/req (mean {r['h1_mean_ms']:.2f} ms)   "
                f"h2->h2 {r['h2_rps']:7.0f} req/s {r['h2_cpu_us']:5.1f} us/req (mean {r['h2_mean_ms']:.2f} ms)   "
                f"failed or non-2xx {r['bad']}")

    try:
        results = alternate_rounds(args.rounds, lambda kind: measure(kind, args, app_h1, app_h2), describe)
    finally:
        for app in apps:
            app.terminate()
            app.wait()
    print_medians(results, [("h2 -> HTTP/1.1 req/s", "h1_rps", ">= 1.0"), ("h2 -> HTTP/1.1 CPU us/req", "h1_cpu_us", "<= 1.0"),
                            ("h2 -> HTTP/1.1 mean ms", "h1_mean_ms", ""),
                            ("h2 -> h2 req/s", "h2_rps", ">= 1.0"), ("h2 -> h2 CPU us/req", "h2_cpu_us", "<= 1.0"),
                            ("h2 -> h2 mean ms", "h2_mean_ms", ""), ("failed or non-2xx", "bad", "0")])


if __name__ == "__main__":
    sys.exit(main())
