#!/usr/bin/env python3
"""Instructions per request under callgrind, for the observability variants of observability.py:
stats only, + access log, + tracing at 1 %, + both.

CPU time on this 2-core VM moves by ±30 % between runs (steal time), which hides a 1 % change;
an instruction count does not move by more than ~1 % between runs. This is how each step of the
observability work was judged before the side-by-side CPU benchmark confirmed it.
Only Skiff (valgrind cannot run Envoy usefully). User-space instructions only: the kernel's share
(socket reads and writes) is not counted, so the ratio is an upper bound of the CPU ratio.

    benchmarks/instructions.py --skiff .build-static/release/skiff [--requests 3000]

Needs valgrind (apt-get install valgrind) and hey. Valgrind 3.19 cannot read the DWARF 5 debug
information Swift emits, so the binary is copied without it first (objcopy --strip-debug).
Everything targets 127.0.0.1 only; processes are stopped by the PID this script started.
"""
import argparse, glob, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(__file__))
from bench import free_port, wait_ready  # noqa: E402
import observability  # noqa: E402

VARIANTS = ("stats only", "+ access log", "+ tracing 1 %", "+ both")


def bootstrap(variant, ports, log_path):
    yaml = observability.bootstrap(ports, variant != "stats only", log_path)
    if variant == "+ access log":
        start = yaml.index("          tracing:")
        end = yaml.index("service_name: bench") + len("service_name: bench")
        yaml = yaml[:start] + yaml[end:]
    if variant == "+ tracing 1 %":
        yaml = yaml[:yaml.index("          access_log:")] + yaml[yaml.index("          tracing:"):]
    return yaml


def count(binary, variant, requests, app, otlp, workdir):
    ports = {"admin": free_port(), "http": free_port(), "app": app, "otlp": otlp}
    config = os.path.join(workdir, "bootstrap.yaml")
    with open(config, "w") as f:
        f.write(bootstrap(variant, ports, os.path.join(workdir, f"access-{time.time_ns()}.log")))
    out = os.path.join(workdir, f"callgrind-{time.time_ns()}.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                             binary, "-c", config, "--concurrency", "1", "-l", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ports["admin"], timeout=180)
        url = f"http://127.0.0.1:{ports['http']}/"
        # Warm up past the first exports and log flushes (one-time type metadata, first batches).
        subprocess.run(["hey", "-n", "2000", "-c", "10", url], capture_output=True, check=True)
        time.sleep(1.5)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True, check=True)
        result = subprocess.run(["hey", "-n", str(requests), "-c", "10", url], capture_output=True, text=True, check=True).stdout
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True, check=True)
        if f"[200]\t{requests} responses" not in result:
            raise RuntimeError(f"{variant}: not every request answered 200:\n{result}")
        proc.terminate()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    total = 0
    for path in glob.glob(out + "*"):
        with open(path) as f:
            for line in f:
                if line.startswith(("totals:", "summary:")):
                    total = max(total, int(line.split()[1]))
    return total / requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--skiff", required=True)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        binary = os.path.join(workdir, "skiff")
        subprocess.run(["objcopy", "--strip-debug", args.skiff, binary], check=True)
        app, otlp, collector_http = free_port(), free_port(), free_port()
        helpers = [
            subprocess.Popen([binary, "upstream", "--name", "app", "--port", str(app)], stdout=subprocess.DEVNULL),
            subprocess.Popen([sys.executable, observability.COLLECTOR, "server", "--port", str(collector_http),
                              "--grpc-port", str(otlp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        try:
            time.sleep(2)
            base = None
            print(f"{'':16s} {'instructions/request':>22s} {'cost':>8s}")
            for variant in VARIANTS:
                per_request = count(binary, variant, args.requests, app, otlp, workdir)
                base = base or per_request
                print(f"{variant:16s} {per_request:22,.0f} {100 * (per_request - base) / base:7.1f} %", flush=True)
        finally:
            for helper in helpers:
                helper.kill()
                helper.wait()


if __name__ == "__main__":
    main()
