#!/usr/bin/env python3
"""What observability costs: HTTP/1.1 keep-alive requests through each proxy with stats only, and
with stats + tracing at 1 % (OpenTelemetry, to a real OTLP collector) + an access log file.

Same method as bench.py: each proxy at --concurrency 1 pinned to CPU 0; wrk, the upstream and the
collector on CPU 1; configurations alternate within each round so drift hits all of them. The
number that matters is the proxy's CPU per request (steadier than req/s on a noisy VM); the
target is observability costing Skiff under 5 % against stats alone.
Everything targets 127.0.0.1 only; processes are stopped by the PID this script started.
"""
import os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from bench import comparison_parser, cpu_seconds, free_port, running_proxy, wrk  # noqa: E402

COLLECTOR = os.path.join(os.path.dirname(__file__), "..", "Tests", "Support", "trace_collector.py")


def bootstrap(ports, observed, log_path):
    extra = ""
    if observed:
        extra = f"""
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: {log_path}
          tracing:
            random_sampling: {{ value: 1 }}
            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                grpc_service: {{ envoy_grpc: {{ cluster_name: otlp }} }}
                service_name: bench"""
    return f"""
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports['admin']} }} }}
static_resources:
  listeners:
  - name: http
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports['http']} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench{extra}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: app }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports['app']} }} }} }} }}] }}]
  - name: otlp
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{ http2_protocol_options: {{}} }}
    load_assignment:
      cluster_name: otlp
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {ports['otlp']} }} }} }} }}] }}]
"""


def measure(kind, observed, args, app, otlp, log_dir):
    ports = {"admin": free_port(), "http": free_port(), "app": app, "otlp": otlp}
    log_path = os.path.join(log_dir, f"{kind}-{time.time_ns()}.log")
    with running_proxy(kind, args, bootstrap(ports, observed, log_path), ports["admin"]) as proc:
        url = f"http://127.0.0.1:{ports['http']}/"
        wrk(url, 2)
        before = cpu_seconds(proc.pid)
        result = wrk(url, args.duration)
        result["cpu_us"] = 1e6 * (cpu_seconds(proc.pid) - before) / max(result["rps"] * args.duration, 1)
    if os.path.exists(log_path):
        os.unlink(log_path)
    return result


def main():
    args = comparison_parser().parse_args()
    app, otlp_grpc, collector_http = free_port(), free_port(), free_port()
    helpers = [
        subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "app", "--port", str(app)], stdout=subprocess.DEVNULL),
        subprocess.Popen(["taskset", "-c", "1", sys.executable, COLLECTOR, "server", "--port", str(collector_http),
                          "--grpc-port", str(otlp_grpc)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    time.sleep(2)
    configs = [(k, o) for k in ("skiff", "envoy") for o in (False, True)]
    results = {c: [] for c in configs}
    try:
        with tempfile.TemporaryDirectory() as log_dir:
            for round_index in range(args.rounds):
                order = configs if round_index % 2 == 0 else list(reversed(configs))
                for kind, observed in order:
                    r = measure(kind, observed, args, app, otlp_grpc, log_dir)
                    results[(kind, observed)].append(r)
                    label = "stats+tracing 1%+access log" if observed else "stats only"
                    print(f"round {round_index + 1} {kind:5s} {label:28s}: {r['rps']:9.0f} req/s  {r['cpu_us']:5.1f} us/req  "
                          f"p99 {r['p99']:.3f} ms  non-2xx {r['non2xx']}", flush=True)
    finally:
        for helper in helpers:
            helper.kill()
            helper.wait()

    def med(kind, observed, key):
        return statistics.median(r[key] for r in results[(kind, observed)])

    print("\nmedian over rounds        stats only   +tracing 1% +access log   cost   target")
    for kind in ("skiff", "envoy"):
        for key, label in (("rps", "req/s"), ("cpu_us", "CPU us/req")):
            base, full = med(kind, False, key), med(kind, True, key)
            cost = (base - full) / base if key == "rps" else (full - base) / base
            target = "< 5 %" if kind == "skiff" else ""
            print(f"{kind:5s} {label:18s} {base:12.1f} {full:25.1f} {100 * cost:6.1f} %   {target}")


if __name__ == "__main__":
    main()
