#!/usr/bin/env bash
# Fetches the Ray CRDs of the pinned KubeRay release from the Go module proxy into the user cache and prints the
# folder. Idempotent: a cache hit only prints the path.
#
#   bash hack/fetch-crds.sh     # -> ~/.cache/kuberay-apiserver/crds/<KUBERAY_VERSION>
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"

dest="${XDG_CACHE_HOME:-$HOME/.cache}/kuberay-apiserver/crds/$KUBERAY_VERSION"
kinds=(rayclusters rayjobs rayservices)
complete=1
for kind in "${kinds[@]}"; do [ -s "$dest/ray.io_$kind.yaml" ] || complete=0; done
if [ "$complete" = 1 ]; then echo "$dest"; exit 0; fi

command -v go >/dev/null || { echo "fetch-crds: the Go toolchain is required" >&2; exit 1; }
module="github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION"
json=$(cd / && GOFLAGS=-mod=mod go mod download -json "$module") || { echo "fetch-crds: $json" >&2; exit 1; }
dir=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(1 if d.get("Error") else 0)' <<<"$json") ||
  { echo "fetch-crds: go mod download $module failed: $json" >&2; exit 1; }
tmp="$dest.tmp.$$"
mkdir -p "$tmp"
for kind in "${kinds[@]}"; do cp "$dir/config/crd/bases/ray.io_$kind.yaml" "$tmp/"; done
chmod -R u+w "$tmp"
rm -rf "$dest"; mv "$tmp" "$dest"
echo "fetch-crds: $module -> $dest" >&2
echo "$dest"
