#!/usr/bin/env python3
"""Launch-to-ready: how long after exec Skiff and Envoy answer `/ready` 200 on the same static
bootstrap (config/intercept.yaml's shape, on free ports), alternating, median of N launches.

    python3 benchmarks/startup.py --skiff .build-static/release/skiff [--launches 10]

Issue 8's target: Skiff ready within 100 ms of launch on a static config.
"""
import argparse, os, socket, statistics, subprocess, tempfile, time

import bench


def ready_after(cmd, admin, timeout=20):
    """Seconds from exec until /ready answers 200 (polled every 2 ms over a raw socket)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - start < timeout:
            try:
                with socket.create_connection(("127.0.0.1", admin), timeout=1) as s:
                    s.sendall(b"GET /ready HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return time.perf_counter() - start
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError(f"{cmd[0]} did not become ready")
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skiff", required=True)
    parser.add_argument("--launches", type=int, default=10)
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "config", "intercept.yaml")) as f:
        config = f.read()
    times = {"skiff": [], "envoy": []}
    for _ in range(args.launches):
        for kind in ("skiff", "envoy"):
            ports = {p: bench.free_port() for p in (15000, 15001, 15006, 15021, 15090)}
            text = config
            for old, new in ports.items():
                text = text.replace(f"port_value: {old} ", f"port_value: {new} ")
            with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
                f.write(text)
            binary = args.skiff if kind == "skiff" else bench.envoy_binary()
            extra = ["--disable-hot-restart"] if kind == "envoy" else []
            cmd = [binary, "-c", f.name, "--concurrency", "1", "-l", "error"] + extra
            times[kind].append(ready_after(cmd, ports[15000]))
            os.unlink(f.name)
    skiff, envoy = (statistics.median(times[k]) * 1000 for k in ("skiff", "envoy"))
    print(f"launch to /ready 200, median of {args.launches}: skiff {skiff:.1f} ms, envoy {envoy:.1f} ms, ratio {skiff / envoy:.2f}")
    print(f"skiff max {max(times['skiff']) * 1000:.1f} ms (target: 100 ms)")


if __name__ == "__main__":
    main()
