#!/usr/bin/env python3
"""TLS side by side: Skiff and Envoy on the same bootstrap, each at --concurrency 1 on CPU 0, the
load generator and the upstream on CPU 1 (as bench.py). Two measurements:

- mTLS handshakes/s: parallel `openssl s_time -new` loops open connection after connection, each
  a full handshake presenting a client certificate (ECDSA P-256, SPIFFE URI SAN) to a listener
  that requires and SAN-checks it; with the proxy's CPU time per handshake.
- keep-alive requests/s over TLS: wrk over https to a TLS listener (wrk cannot present a client
  certificate, so this listener only serves TLS).

Certificates are generated with openssl in a temporary directory. 127.0.0.1 only; processes are
stopped by the PID this script started.
"""
import os, re, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import HTTP_FILTER, alternate_rounds, comparison_parser, cpu_seconds, free_port, print_medians, running_proxy, wrk  # noqa: E402

FRONTEND = "spiffe://cluster.local/ns/bench/sa/frontend"
BACKEND = "spiffe://cluster.local/ns/bench/sa/backend"

BOOTSTRAP = """
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
static_resources:
  listeners:
{listeners}
  clusters:
  - name: app
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: app
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {app} }} }} }}
"""

LISTENER = """
  - name: {name}
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:{hcm}
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: {require}
          common_tls_context:
            tls_certificates:
            - certificate_chain: {{ filename: {dir}/backend.pem }}
              private_key: {{ filename: {dir}/backend.key }}
{validation}"""

VALIDATION = """            validation_context:
              trusted_ca: {{ filename: {dir}/ca.pem }}
              match_typed_subject_alt_names:
              - {{ san_type: URI, matcher: {{ exact: "{frontend}" }} }}
"""


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_certificates(directory):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=bench CA", "-keyout", f"{directory}/ca.key", "-out", f"{directory}/ca.pem")
    for name, uri in (("backend", BACKEND), ("frontend", FRONTEND)):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{directory}/{name}.key", "-out", f"{directory}/{name}.csr")
        with open(f"{directory}/{name}.ext", "w") as f:
            f.write(f"subjectAltName=URI:{uri},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
        openssl("x509", "-req", "-in", f"{directory}/{name}.csr", "-CA", f"{directory}/ca.pem", "-CAkey", f"{directory}/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{directory}/{name}.ext", "-out", f"{directory}/{name}.pem")


def handshakes(port, directory, seconds, clients, proxy_pid=None):
    """New mTLS connections (full handshake with a client certificate, then close) per wall-clock
    second from `clients` parallel `s_time -new` loops, and the proxy's CPU time per handshake.

    One `s_time` is a serial loop: its rate is the round trip of one handshake (client CPU, then
    server CPU, then client again), which on this noisy VM swung ±25 % between identical runs.
    Several loops keep the proxy busy, as many callers reconnecting do; the client core saturates
    first (an openssl client handshake costs about what the server's does), so the CPU time the
    proxy spent per handshake is the measure of its own cost and the steadier number.
    `s_time`'s own rate is per second of the client's CPU time, so the wall clock is timed here.
    No request is sent: `s_time -www` speaks HTTP/1.0, which Envoy answers and then holds the
    connection for its 1 s delayed close."""
    before = cpu_seconds(proxy_pid) if proxy_pid else 0.0
    started = time.monotonic()
    loops = [subprocess.Popen(
        ["taskset", "-c", "1", "openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds),
         "-cert", f"{directory}/frontend.pem", "-key", f"{directory}/frontend.key", "-CAfile", f"{directory}/ca.pem"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(clients)]
    total = 0
    for loop in loops:
        out = loop.communicate()[0]
        count = re.search(r"(\d+) connections in [\d.]+s;", out)
        if not count:
            raise RuntimeError("s_time failed:\n" + out)
        total += int(count.group(1))
    elapsed = time.monotonic() - started
    cpu = (cpu_seconds(proxy_pid) - before) if proxy_pid else 0.0
    return total / elapsed, 1e6 * cpu / max(total, 1)


def measure(kind, args, directory, app_port):
    ports = {"admin": free_port(), "mtls": free_port(), "tls": free_port()}
    listeners = LISTENER.format(name="mtls", port=ports["mtls"], require="true", dir=directory,
                                hcm=HTTP_FILTER.format(name="mtls", cluster="app"),
                                validation=VALIDATION.format(dir=directory, frontend=FRONTEND))
    listeners += LISTENER.format(name="tls", port=ports["tls"], require="false", dir=directory,
                                 hcm=HTTP_FILTER.format(name="tls", cluster="app"), validation="")
    yaml = BOOTSTRAP.format(admin=ports["admin"], listeners=listeners, app=app_port)
    with running_proxy(kind, args, yaml, ports["admin"]) as proc:
        handshakes(ports["mtls"], directory, 2, args.clients)  # warm-up
        rate, cpu_us = handshakes(ports["mtls"], directory, args.duration, args.clients, proc.pid)
        wrk(f"https://127.0.0.1:{ports['tls']}/", 2)
        keepalive = wrk(f"https://127.0.0.1:{ports['tls']}/", args.duration)
        return {"handshakes": rate, "cpu_us": cpu_us, "rps": keepalive["rps"], "p99": keepalive["p99"], "non2xx": keepalive["non2xx"]}


def main():
    parser = comparison_parser()
    parser.add_argument("--clients", type=int, default=4, help="parallel s_time loops")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="skiff-tls-bench-")
    make_certificates(directory)
    app_port = free_port()
    app = subprocess.Popen(["taskset", "-c", "1", args.skiff, "upstream", "--name", "app", "--port", str(app_port)],
                           stdout=subprocess.DEVNULL)
    time.sleep(1)
    try:
        results = alternate_rounds(
            args.rounds, lambda kind: measure(kind, args, directory, app_port),
            lambda r: f"{r['handshakes']:8.0f} mTLS handshakes/s ({r['cpu_us']:4.0f} us CPU each)  {r['rps']:9.0f} req/s over TLS  p99 {r['p99']:.3f} ms  non-2xx {r['non2xx']}",
        )
    finally:
        app.terminate()
        app.wait()
        shutil.rmtree(directory, ignore_errors=True)
    print_medians(results, [("mTLS handshakes/s", "handshakes", ">= 1.0"), ("proxy CPU us / handshake", "cpu_us", "<= 1.0"), ("TLS keep-alive req/s", "rps", ">= 1.0"),
                            ("TLS p99 latency ms", "p99", "")])


if __name__ == "__main__":
    sys.exit(main())
