#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from Go modules (no release binaries can be downloaded here) and makes
# sure an etcd binary is available, so tests can run against a real API server on loopback.
#
# Idempotent: on a cache hit it only prints the binary paths. Bump KUBE_VERSION to rebuild.
#
# Environment:
#   XDG_CACHE_HOME   cache root (default ~/.cache); binaries land in $XDG_CACHE_HOME/kuberay-apiserver/bin
#   BUILD_NICE       niceness of the Go build (default 10: other work shares the 2 cores)
#   BUILD_JOBS       go build -p (default 2)
set -euo pipefail

# The pins (KUBE_VERSION, ETCD_VERSION, ETCD_MIN_VERSION) live in hack/versions.sh.
# shellcheck source=hack/versions.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/versions.sh"

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kuberay-apiserver"
BIN_DIR="$CACHE_ROOT/bin"
KUBE_APISERVER="$BIN_DIR/kube-apiserver-$KUBE_VERSION"
KUBECTL="$BIN_DIR/kubectl-$KUBE_VERSION"
NICE="${BUILD_NICE:-10}"
JOBS="${BUILD_JOBS:-2}"

log() { printf '[build-kube-apiserver] %s\n' "$*" >&2; }
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
  log "building kube-apiserver and kubectl $KUBE_VERSION (staging modules $staging_version) in $build_dir"
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

  # `go get` of the two main packages resolves the module graph, fetches every module that provides an
  # imported package and records their checksums in go.sum.
  timed "module download" nice -n "$NICE" go get \
    "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION" ||
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
  CGO_ENABLED=0 timed "build (kube-apiserver + kubectl, -p $JOBS, nice $NICE)" \
    nice -n "$NICE" go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$out/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  mv -f "$out/kubectl" "$KUBECTL"
  mv -f "$out/kube-apiserver" "$KUBE_APISERVER"
  rmdir "$out"
}

build_etcd() {
  local build_dir="$CACHE_ROOT/etcd-build/$ETCD_VERSION"
  require_go
  log "building etcd $ETCD_VERSION from Go modules in $build_dir"
  mkdir -p "$build_dir" "$BIN_DIR"
  cd "$build_dir"
  # etcd's server module is its main package but carries replace directives (so `go install mod@v` refuses
  # it); a throwaway module that requires it at the release version works.
  printf 'module kuberay-apiserver.local/etcd-build\n\ngo 1.23\n' >go.mod
  rm -f go.sum
  timed "etcd module download" nice -n "$NICE" go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" ||
    die "etcd module download failed (see the go error above)"
  CGO_ENABLED=0 timed "etcd build" nice -n "$NICE" go build -p "$JOBS" -trimpath -ldflags "-s -w" \
    -o "$build_dir/etcd.tmp" go.etcd.io/etcd/server/v3
  mv -f "$build_dir/etcd.tmp" "$BIN_DIR/etcd-$ETCD_VERSION"
}

etcd_version_of() { "$1" --version 2>/dev/null | awk '/^etcd Version:/ { print $3; exit }'; }

# Prints the path of a usable etcd: cached build, PATH, or Debian's etcd-server package (installed if missing).
ensure_etcd() {
  local etcd version
  if [ -x "$BIN_DIR/etcd-$ETCD_VERSION" ]; then
    echo "$BIN_DIR/etcd-$ETCD_VERSION"; return
  fi
  etcd=$(command -v etcd || true)
  if [ -z "$etcd" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    log "installing Debian's etcd-server"
    # Debian's package is enough for tests (kube-apiserver 1.34 accepts etcd 3.4). A policy-rc.d usually
    # stops the package from starting a system etcd; we start our own on free ports anyway.
    { apt-get install -y -q etcd-server >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -q etcd-server >/dev/null; }; } ||
      log "apt-get install etcd-server failed; building etcd instead"
    etcd=$(command -v etcd || true)
  fi
  if [ -n "$etcd" ]; then
    version=$(etcd_version_of "$etcd")
    if [ -n "$version" ] && version_ge "$version" "$ETCD_MIN_VERSION"; then
      echo "$etcd"; return
    fi
    log "etcd at $etcd is version '${version:-unknown}' (< $ETCD_MIN_VERSION); building $ETCD_VERSION"
  fi
  build_etcd >&2
  echo "$BIN_DIR/etcd-$ETCD_VERSION"
}

main() {
  local built=0 etcd
  if [ -x "$KUBE_APISERVER" ] && [ -x "$KUBECTL" ]; then
    : # cache hit: stay quiet
  else
    built=1
    local start; start=$(date +%s)
    build_kube
    log "total: $(( $(date +%s) - start ))s"
  fi
  etcd=$(ensure_etcd)
  echo "kube-apiserver: $KUBE_APISERVER"
  echo "kubectl:        $KUBECTL"
  echo "etcd:           $etcd"
  if [ "$built" = 1 ]; then
    log "cache size: $(du -sh "$CACHE_ROOT" | cut -f1) ($CACHE_ROOT)," \
      "Go module cache $(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1)," \
      "Go build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)"
  fi
}

# Sourcing the script (e.g. to call build_etcd alone) defines the functions without running main.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
