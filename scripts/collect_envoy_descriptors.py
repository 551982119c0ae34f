#!/usr/bin/env python3
"""Write one FileDescriptorSet holding Envoy's API as PyPI's `xds-protos` publishes it.

Each `*_pb2` module of xds-protos embeds its serialized FileDescriptorProto. Importing the root
modules listed in scripts/envoy_api_modules.txt registers them and their imports in the default
descriptor pool; a depth-first walk over `FileDescriptor.dependencies` then yields every file in
dependency order, which is what `protoc --descriptor_set_in` needs. No .proto text is involved.

Usage: collect_envoy_descriptors.py MODULES_TXT OUT_SET OUT_FILE_LIST
"""
import importlib
import sys

from google.protobuf import descriptor_pb2


def main() -> int:
    modules_txt, out_set, out_list = sys.argv[1:4]
    roots = []
    with open(modules_txt) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                roots.append(importlib.import_module(line).DESCRIPTOR)

    ordered, seen = [], set()

    def visit(fd):
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    for fd in roots:
        visit(fd)

    fds = descriptor_pb2.FileDescriptorSet()
    for fd in ordered:
        fds.file.append(descriptor_pb2.FileDescriptorProto.FromString(fd.serialized_pb))
    with open(out_set, "wb") as f:
        f.write(fds.SerializeToString())
    # SwiftProtobuf ships the well-known types; generate everything else.
    with open(out_list, "w") as f:
        for fd in ordered:
            if not fd.name.startswith("google/protobuf/"):
                f.write(fd.name + "\n")
    print(f"{len(ordered)} files in the set", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
