"""The committed gRPC stubs are what hack/gen-protos.sh makes from the committed .proto files."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "service" / "rpc" / "proto_gen"


def test_committed_stubs_are_current(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    subprocess.run(["bash", str(REPO / "hack" / "gen-protos.sh"), str(tmp_path)], check=True, env=env)
    fresh = {p.name: p.read_text() for p in sorted(tmp_path.iterdir()) if p.is_file()}
    committed = {p.name: p.read_text() for p in sorted(GENERATED.iterdir()) if p.is_file()}
    assert sorted(fresh) == sorted(committed), "generated file set differs: run hack/gen-protos.sh"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, (
        f"stale stubs {stale}: run hack/gen-protos.sh (with grpcio-tools "
        f"{version('grpcio-tools')} here; GRPC_GENERATED_VERSION in *_pb2_grpc.py names the one used)"
    )


def test_stubs_import_as_a_package() -> None:
    from service.rpc.proto_gen import cluster_pb2, job_pb2, serve_pb2

    # The descriptors keep upstream's file names, which reflection clients use to resolve imports.
    assert cluster_pb2.DESCRIPTOR.name == "cluster.proto"
    assert [d.name for d in job_pb2.DESCRIPTOR.dependencies][-1] == "cluster.proto"
    assert serve_pb2.DESCRIPTOR.package == "proto"
