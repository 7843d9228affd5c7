#!/usr/bin/env bash
# Regenerate the Python gRPC stubs in service/rpc/proto_gen from service/rpc/protos/*.proto.
#
# Usage: hack/gen-protos.sh [OUTPUT_DIR]   (default: service/rpc/proto_gen)
# PYTHON selects the interpreter that has grpcio-tools (default: .venv/bin/python, else python3).
#
# protoc names each file by its path relative to -I, so the descriptors are registered as
# "cluster.proto", "job.proto", ... exactly as upstream's are (reflection clients resolve imports by
# those names). The price is that protoc writes top-level imports ("import cluster_pb2"); they are
# rewritten below into package imports so that service.rpc.proto_gen works as a normal package.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/service/rpc/proto_gen}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python=python3; fi
fi
package="service.rpc.proto_gen"

mkdir -p "$out"
rm -f "$out"/*_pb2.py "$out"/*_pb2.pyi "$out"/*_pb2_grpc.py
cd "$repo/service/rpc/protos"
# google/protobuf/*.proto come from grpc_tools' bundled include directory, which grpc_tools.protoc adds.
"$python" -m grpc_tools.protoc -I . \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  cluster.proto config.proto job.proto job_submission.proto serve.proto

for file in "$out"/*_pb2.py "$out"/*_pb2.pyi "$out"/*_pb2_grpc.py; do
  sed -i -E "s/^import ([A-Za-z0-9_]+_pb2) as /from $package import \1 as /" "$file"
  # mypy still reads excluded files that the service imports; the generated code is not annotated for it.
  sed -i '1i # mypy: ignore-errors' "$file"
done
if [[ ! -f "$out/__init__.py" ]]; then
  printf '"""Generated protobuf and gRPC stubs (hack/gen-protos.sh); do not edit."""\n' >"$out/__init__.py"
fi
