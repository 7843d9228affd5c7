#!/usr/bin/env bash
# Builds everything the operator test tier runs, from Go modules, into the user cache: the Kubernetes binaries
# and etcd (hack/build-kube-apiserver.sh), the KubeRay operator of KUBERAY_VERSION and kwok (fake nodes that
# "run" pods by the stages in tests/data/kwok/). Binaries carry their version in the file name, so bumping a
# pin in hack/versions.sh rebuilds exactly that tool.
#
# Idempotent: on a cache hit it only prints the binary paths. Same environment as build-kube-apiserver.sh.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=build-control-plane
# shellcheck source=hack/build-kube-apiserver.sh
source "$here/build-kube-apiserver.sh"

OPERATOR="$BIN_DIR/kuberay-operator-$KUBERAY_VERSION"
KWOK="$BIN_DIR/kwok-$KWOK_VERSION"

has_main_package() { # has_main_package DIR: DIR holds a non-test Go file of package main
  local file
  for file in "$1"/*.go; do
    case $file in *_test.go) continue ;; esac
    if [ -f "$file" ] && grep -qx 'package main' "$file"; then return 0; fi
  done
  return 1
}

build_operator() {
  local module="github.com/ray-project/kuberay/ray-operator" dir
  require_go
  # The operator's main package is wherever the module's `package main` lives (the module root in v1.x);
  # look in the downloaded source rather than assume.
  dir=$(cd / && mod_download_field "$module@$KUBERAY_VERSION" Dir)
  [ -d "$dir" ] || die "no source for $module@$KUBERAY_VERSION"
  local main_dir="" candidate
  for candidate in "$dir" "$dir"/cmd/*; do
    if has_main_package "$candidate"; then main_dir=$candidate; break; fi
  done
  [ -n "$main_dir" ] || die "no main package in $module@$KUBERAY_VERSION ($dir)"
  local pkg="$module${main_dir#"$dir"}"
  build_go_main kuberay-operator "$module" "$KUBERAY_VERSION" "$pkg" "$OPERATOR"
}

build_kwok() {
  build_go_main kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "$KWOK"
}

main() {
  BUILT=0
  local start; start=$(date +%s)
  ensure_kube_and_etcd
  if [ ! -x "$OPERATOR" ]; then build_operator; BUILT=1; fi
  if [ ! -x "$KWOK" ]; then build_kwok; BUILT=1; fi
  print_kube_and_etcd
  printf '%-24s %s\n' "kuberay-operator:" "$OPERATOR" "kwok:" "$KWOK"
  if [ "$BUILT" = 1 ]; then
    log "control plane: $(( $(date +%s) - start ))s in total"
    print_cache_size
  fi
}

main "$@"
