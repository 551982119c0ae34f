#!/usr/bin/env bash
# The release binary the container image ships, built the same way everywhere (the Dockerfile's
# builder stage, CI, and by hand): optimised, the Swift runtime linked in (`--static-swift-stdlib`),
# so the runtime image needs no Swift toolchain.
#
#   scripts/build-release.sh [SCRATCH_DIR]     # default .build-static; prints the binary's path
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${1:-.build-static}"
swift build -c release --product skiff --static-swift-stdlib --scratch-path "$SCRATCH" >&2
echo "$SCRATCH/release/skiff"
