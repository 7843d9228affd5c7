#!/usr/bin/env bash
# Builds the Kubernetes binaries the tests run (kube-apiserver, kubectl, kube-scheduler, kube-controller-manager)
# and etcd from Go modules (no release binaries can be downloaded here), so tests can run against a real API
# server on loopback. hack/build-control-plane.sh sources this file for its helpers.
#
# Idempotent: on a cache hit it only prints the binary paths. Bump KUBE_VERSION or ETCD_VERSION to rebuild.
#
# Environment:
#   XDG_CACHE_HOME   cache root (default ~/.cache); binaries land in $XDG_CACHE_HOME/kuberay-apiserver/bin
#   BUILD_NICE       niceness of the Go build (default 10: other work shares the 2 cores)
#   BUILD_JOBS       go build -p (default 2)
set -euo pipefail

# The pins (KUBE_VERSION, ETCD_VERSION) live in hack/versions.sh.
# shellcheck source=hack/versions.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/versions.sh"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kuberay-apiserver"
BIN_DIR="$CACHE_ROOT/bin"
# One `go build` makes all of them: they share most packages, so building them together costs little more
# than the largest alone.
KUBE_BINARIES=(kube-apiserver kubectl kube-scheduler kube-controller-manager)
ETCD="$BIN_DIR/etcd-$ETCD_VERSION"
NICE="${BUILD_NICE:-10}"
JOBS="${BUILD_JOBS:-2}"

LOG_TAG=${LOG_TAG:-build-kube-apiserver}
log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Runs a command and reports how long it took, so slow steps are visible in CI logs.
timed() {
  local label=$1 start rc=0
  shift
  start=$(date +%s)
  "$@" || rc=$?
  log "$label: $(( $(date +%s) - start ))s (exit $rc)"
  return "$rc"
}

version_ge() { # version_ge A B: true when A >= B (dotted versions, no leading v)
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# Prints "<key> <value>" for one field of `go mod download -json` output; fails with the proxy's error.
mod_download_field() {
  local mod=$1 field=$2 out
  out=$(go mod download -json "$mod") || die "go mod download $mod failed: $out"
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1], ""))' "$field" <<<"$out"
}

require_go() {
  command -v go >/dev/null || die "the Go toolchain is required (go not on PATH)"
  # The throwaway modules have no VCS metadata and must not inherit e.g. -mod=vendor from the caller.
  export GOFLAGS=-buildvcs=false
}

build_kube() {
  local build_dir="$CACHE_ROOT/kube-apiserver-build/$KUBE_VERSION"
  local minor patch staging_version kube_gomod kube_info go_directive local_go commit build_date
  minor=$(cut -d. -f2 <<<"${KUBE_VERSION#v}")
  patch=$(cut -d. -f3 <<<"${KUBE_VERSION#v}")
  # Staging modules (k8s.io/api, client-go, ...) are published as v0.<minor>.<patch> of the same release.
  staging_version="v0.$minor.$patch"

  require_go
  log "building ${KUBE_BINARIES[*]} $KUBE_VERSION (staging modules $staging_version) in $build_dir"
  mkdir -p "$build_dir" "$BIN_DIR"
  cd "$build_dir"

  kube_gomod=$(mod_download_field "k8s.io/kubernetes@$KUBE_VERSION" GoMod)
  kube_info=$(mod_download_field "k8s.io/kubernetes@$KUBE_VERSION" Info)
  [ -s "$kube_gomod" ] || die "no go.mod for k8s.io/kubernetes@$KUBE_VERSION"

  go_directive=$(awk '$1 == "go" { print $2; exit }' "$kube_gomod")
  local_go=$(go env GOVERSION); local_go=${local_go#go}
  version_ge "$local_go" "$go_directive" ||
    die "k8s.io/kubernetes@$KUBE_VERSION needs Go >= $go_directive, found $local_go"

  # k8s.io/kubernetes requires its staging modules at v0.0.0 and points them at ./staging/src with replace
  # directives, which only apply inside its own repo. Our module must replace each with its published release.
  {
    echo "module kuberay-apiserver.local/kube-apiserver-build"
    echo
    echo "go $go_directive"
    echo
    # Upstream builds with these GODEBUG defaults (they only take effect in the main module).
    grep -E '^godebug ' "$kube_gomod" || true
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$kube_gomod" | while read -r mod; do
      echo "	$mod => $mod $staging_version"
    done
    echo ")"
  } >go.mod
  rm -f go.sum
  log "$(grep -c ' => ' go.mod) staging modules replaced by their $staging_version releases"

  local name pkgs=()
  for name in "${KUBE_BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$name"); done
  # `go get` of the main packages resolves the module graph, fetches every module that provides an imported
  # package and records their checksums in go.sum.
  timed "module download" nice -n "$NICE" go get "${pkgs[@]/%/@$KUBE_VERSION}" ||
    die "module download failed (see the go error above: it names the module the proxy could not serve)"

  # Same variables upstream's hack/lib/version.sh sets, so /version and `kubectl version` report the pin.
  commit=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("Origin", {}).get("Hash", ""))' \
    "$kube_info" 2>/dev/null || true)
  build_date=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Time"])' "$kube_info")
  local ldflags="-s -w"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitCommit=$commit -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done

  # Static binaries like upstream's release build. Output to a temp dir first so an interrupted build never
  # leaves a half-written binary that would count as a cache hit.
  local out="$build_dir/out"
  rm -rf "$out"; mkdir -p "$out"
  CGO_ENABLED=0 timed "build (${KUBE_BINARIES[*]}, -p $JOBS, nice $NICE)" \
    nice -n "$NICE" go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
  for name in "${KUBE_BINARIES[@]}"; do mv -f "$out/$name" "$BIN_DIR/$name-$KUBE_VERSION"; done
  rmdir "$out"
}

# build_go_main NAME MODULE VERSION PACKAGE OUTPUT: builds the main package PACKAGE of release VERSION of
# MODULE into OUTPUT. A throwaway module that requires it works where `go install pkg@v` refuses a module whose
# go.mod has replace directives; MVS then picks the dependency versions of the release's own go.mod.
build_go_main() {
  local name=$1 module=$2 version=$3 pkg=$4 output=$5 start
  local build_dir="$CACHE_ROOT/$name-build/$version"
  require_go
  start=$(date +%s)
  log "building $name from $module@$version ($pkg) in $build_dir"
  mkdir -p "$build_dir" "$(dirname "$output")"
  (
    cd "$build_dir"
    printf 'module kuberay-apiserver.local/%s-build\n\ngo 1.23\n' "$name" >go.mod
    rm -f go.sum
    # `go get` of the package (not just the module) records the checksums of everything it imports, and
    # raises the go directive when the module needs a newer one.
    timed "$name module download" nice -n "$NICE" go get "$pkg@$version" ||
      die "$name module download failed (see the go error above)"
    CGO_ENABLED=0 timed "$name build" nice -n "$NICE" go build -p "$JOBS" -trimpath -ldflags "-s -w" \
      -o "$output.tmp" "$pkg"
  ) || exit 1
  # Written under a temporary name first, so an interrupted build never leaves a cache hit.
  mv -f "$output.tmp" "$output"
  log "$name: $(( $(date +%s) - start ))s in total"
}

# etcd's server module is its main package. Debian's etcd (3.4) is not used: kube-apiserver 1.34 needs
# RequestWatchProgress (etcd >= 3.5), without it watchers get "Too large resource version" errors.
build_etcd() {
  build_go_main etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$ETCD"
}

kube_built() {
  local name
  for name in "${KUBE_BINARIES[@]}"; do [ -x "$BIN_DIR/$name-$KUBE_VERSION" ] || return 1; done
}

# Builds the Kubernetes binaries (all, when one is missing) and etcd; sets BUILT=1 when it built anything.
ensure_kube_and_etcd() {
  if ! kube_built; then
    local start; start=$(date +%s)
    ( build_kube ) || exit 1
    log "kubernetes binaries: $(( $(date +%s) - start ))s in total"
    BUILT=1
  fi
  if [ ! -x "$ETCD" ]; then build_etcd; BUILT=1; fi
}

print_kube_and_etcd() {
  local name
  for name in "${KUBE_BINARIES[@]}"; do printf '%-24s %s\n' "$name:" "$BIN_DIR/$name-$KUBE_VERSION"; done
  printf '%-24s %s\n' "etcd:" "$ETCD"
}

print_cache_size() {
  log "cache size: $(du -sh "$CACHE_ROOT" | cut -f1) ($CACHE_ROOT; binaries $(du -sh "$BIN_DIR" | cut -f1))," \
    "Go module cache $(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1)," \
    "Go build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)"
}

main() {
  BUILT=0
  ensure_kube_and_etcd
  print_kube_and_etcd
  if [ "$BUILT" = 1 ]; then print_cache_size; fi
}

# Sourcing the script (e.g. for its build helpers) defines the functions without running main.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
