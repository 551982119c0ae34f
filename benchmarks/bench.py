#!/usr/bin/env python3
"""Measure Skiff and Envoy side by side on the same bootstrap and print Skiff/Envoy ratios.

Each round starts each proxy in turn (alternating, so drift affects both), at --concurrency 1
pinned to CPU 0; wrk and the upstream (Skiff's built-in app) run on CPU 1. Measurements:
HTTP/1.1 keep-alive requests/s and p50/p99 latency (wrk), TCP proxy throughput (wrk fetching a
1 MiB body through the tcp_proxy listener), idle RSS right after startup, idle RSS after the
load (the working set serving needs), and RSS holding 10,000 idle connections.
Everything targets 127.0.0.1 only. Processes are stopped by the PID this script started.
"""
import argparse, contextlib, json, os, re, socket, statistics, subprocess, sys, tempfile, time, urllib.request

# One HTTP listener's connection manager routing everything to `cluster` (also used by tls.py).
HTTP_FILTER = """
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: {cluster} }}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"""

BOOTSTRAP = """
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
static_resources:
  listeners:
  - name: http
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {http} }} }}
    filter_chains:
    - filters:""" + HTTP_FILTER.format(name="bench", cluster="app").replace("{", "{{").replace("}", "}}") + """
  - name: tcp
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {tcp} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: bench_tcp
          cluster: big
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {app} }} }} }}
  - name: big
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: big
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {big} }} }} }}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def envoy_binary():
    import envoy
    return os.path.join(os.path.dirname(envoy.__file__), "_bin", "envoy")


def wait_ready(admin, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("proxy did not become ready")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, duration, connections=50):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    scale = {"B": 1 / 1024 / 1024, "KB": 1 / 1024, "MB": 1, "GB": 1024}[transfer.group(2)]

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "mbps": float(transfer.group(1)) * scale,
            "non2xx": int(errors.group(1)) if errors else 0}


def hold_idle_connections(port, count):
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    return socks


def run_proxy(kind, args, bootstrap_path, admin):
    if kind == "skiff":
        cmd = [args.skiff, "-c", bootstrap_path, "--concurrency", "1", "-l", "error"]
    else:
        cmd = [envoy_binary(), "-c", bootstrap_path, "--concurrency", "1", "--disable-hot-restart", "-l", "error"]
    proc = subprocess.Popen(["taskset", "-c", "0"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(admin)
    return proc


@contextlib.contextmanager
def running_proxy(kind, args, bootstrap_yaml, admin):
    """Skiff or Envoy on `bootstrap_yaml`, ready, for the `with` block; stopped by its PID after."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(bootstrap_yaml)
        path = f.name
    proc = run_proxy(kind, args, path, admin)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        os.unlink(path)


def comparison_parser():
    """The options every side-by-side benchmark takes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--skiff", required=True)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", 10)))
    return parser


def measure(kind, args, ports):
    with running_proxy(kind, args, BOOTSTRAP.format(**ports), ports["admin"]) as proc:
        time.sleep(1)
        result = {"idle_rss_mib": rss_kib(proc.pid) / 1024}
        wrk(f"http://127.0.0.1:{ports['http']}/", 2)  # warm-up
        before = cpu_seconds(proc.pid)
        result.update(wrk(f"http://127.0.0.1:{ports['http']}/", args.duration))
        # The proxy's CPU per request: steadier than req/s on this noisy VM.
        result["cpu_us"] = 1e6 * (cpu_seconds(proc.pid) - before) / max(result["rps"] * args.duration, 1)
        tcp = wrk(f"http://127.0.0.1:{ports['tcp']}/", args.duration, connections=4)
        result["tcp_mbps"] = tcp["mbps"]
        time.sleep(2)
        result["rss_after_load_mib"] = rss_kib(proc.pid) / 1024
        socks = hold_idle_connections(ports["http"], args.idle_connections)
        time.sleep(2)
        result["rss_10k_idle_mib"] = rss_kib(proc.pid) / 1024
        for s in socks:
            s.close()
        return result


def alternate_rounds(rounds, measure_one, describe):
    """Runs `measure_one(kind)` for Skiff and Envoy each round, alternating who goes first."""
    results = {"skiff": [], "envoy": []}
    for round_index in range(rounds):
        for kind in ("skiff", "envoy") if round_index % 2 == 0 else ("envoy", "skiff"):
            r = measure_one(kind)
            results[kind].append(r)
            print(f"round {round_index + 1} {kind:5s}: {describe(r)}", flush=True)
    return results


def print_medians(results, rows):
    """Medians over rounds and the Skiff/Envoy ratio, one row per (label, key, target)."""
    def med(kind, key):
        return statistics.median(r[key] for r in results[kind])

    print("\nmedian over rounds            skiff      envoy   skiff/envoy  target")
    for label, key, target in rows:
        s, e = med("skiff", key), med("envoy", key)
        print(f"{label:26s} {s:10.2f} {e:10.2f} {s / e if e else float('nan'):10.2f}   {target}")


def main():
    parser = comparison_parser()
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--json", help="write raw results here")
    args = parser.parse_args()

    app_port, big_port = free_port(), free_port()
    apps = [
        subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "app", "--port", str(app_port)],
                         stdout=subprocess.DEVNULL),
        subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "big", "--port", str(big_port),
                          "--body-bytes", str(1024 * 1024)], stdout=subprocess.DEVNULL),
    ]
    time.sleep(1)
    def one(kind):
        ports = {"admin": free_port(), "http": free_port(), "tcp": free_port(), "app": app_port, "big": big_port}
        return measure(kind, args, ports)

    def describe(r):
        return (f"{r['rps']:9.0f} req/s  {r['cpu_us']:5.1f} us/req  p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  tcp {r['tcp_mbps']:.0f} MiB/s  "
                f"idle {r['idle_rss_mib']:.1f} MiB  after load {r['rss_after_load_mib']:.1f} MiB  "
                f"10k idle {r['rss_10k_idle_mib']:.1f} MiB  non-2xx {r['non2xx']}")

    try:
        results = alternate_rounds(args.rounds, one, describe)
    finally:
        for app in apps:
            app.terminate()
            app.wait()
    print_medians(results, [("HTTP/1.1 req/s", "rps", ">= 1.0"), ("HTTP/1.1 CPU us/req", "cpu_us", "<= 1.0"),
                            ("p50 latency ms", "p50", ""), ("p99 latency ms", "p99", "<= 1.0"),
                            ("TCP MiB/s", "tcp_mbps", ""), ("idle RSS MiB", "idle_rss_mib", "<= 0.5"),
                            ("idle RSS after load MiB", "rss_after_load_mib", ""),
                            ("RSS, 10k idle conns MiB", "rss_10k_idle_mib", "")])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
