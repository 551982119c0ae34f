#!/usr/bin/env bash
# Regenerate Sources/OTLPAPI (OpenTelemetry's OTLP trace export messages) from the Python
# descriptors in PyPI's `opentelemetry-proto`, the same way scripts/generate-envoy-api.sh does for
# Envoy's API. The generated code is committed; run this only to move to another OTLP version.
#
# The wheel is unpacked into a scratch directory and put first on PYTHONPATH, not installed:
# xds-protos (which the tests install) bundles an older copy of the same `opentelemetry.proto`
# package (`instrumentation_library_spans` instead of `scope_spans`), and installing both makes
# one overwrite the other.
set -euo pipefail
cd "$(dirname "$0")/.."

OTLP_PROTO_VERSION=1.27.0
command -v protoc >/dev/null || apt-get install -y -qq protobuf-compiler

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download -q --no-deps -d "$work/wheel" "opentelemetry-proto==${OTLP_PROTO_VERSION}"
python3 -m zipfile -e "$work"/wheel/opentelemetry_proto-*.whl "$work/py"
# A regular package, so it wins over a site-packages copy of `opentelemetry`.
touch "$work/py/opentelemetry/__init__.py"
PYTHONPATH="$work/py" python3 scripts/collect_envoy_descriptors.py scripts/otlp_api_modules.txt "$work/set.pb" "$work/files.txt"

plugin=.build-plugins/release/protoc-gen-swift
if [ ! -x "$plugin" ]; then
    src=.build-plugins/swift-protobuf
    [ -d "$src" ] || git clone -q --depth 1 --branch 1.39.0 https://github.com/apple/swift-protobuf.git "$src"
    swift build -c release --package-path "$src" --scratch-path .build-plugins --product protoc-gen-swift
fi

rm -rf Sources/OTLPAPI
mkdir -p Sources/OTLPAPI
# shellcheck disable=SC2046
protoc --descriptor_set_in="$work/set.pb" \
    --plugin=protoc-gen-swift="$plugin" \
    --swift_out=Sources/OTLPAPI \
    --swift_opt=FileNaming=PathToUnderscores,Visibility=Public \
    $(cat "$work/files.txt")
echo "generated $(ls Sources/OTLPAPI | wc -l) files, $(cat Sources/OTLPAPI/*.swift | wc -l) lines"
