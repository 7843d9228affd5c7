#!/usr/bin/env bash
# Build helm from its Go module into a per-user cache and reuse it on later runs.
#
# Prints the path of the helm binary on stdout (quiet otherwise when the cached build is
# already the pinned version). The chart tests find it there, or through $KUBERAY_HELM.
#
#   bash hack/install-helm.sh            # build once, then reuse
#   HELM_VERSION=v3.19.5 bash hack/install-helm.sh
set -euo pipefail

# shellcheck source=hack/versions.sh
pin=$(source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/versions.sh" && echo "$HELM_VERSION")
HELM_VERSION="${HELM_VERSION:-$pin}"
BIN_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/kuberay-apiserver/bin"
HELM="$BIN_DIR/helm"
STAMP="$BIN_DIR/.helm-version"

if [[ -x "$HELM" && -f "$STAMP" && "$(cat "$STAMP")" == "$HELM_VERSION" ]]; then
  echo "$HELM"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "install-helm: the Go toolchain is required to build helm $HELM_VERSION" >&2
  exit 1
fi

mkdir -p "$BIN_DIR"
echo "install-helm: building helm $HELM_VERSION into $BIN_DIR (takes a few minutes)" >&2
start=$(date +%s)
# Helm's own Makefile stamps the release number and the Kubernetes version it was built against
# (the one `helm template` and `helm lint` assume); `go install` alone would leave v1.20.
gomod=$(cd / && go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
client_go=$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")  # v0.MINOR.PATCH
kube_minor=$(echo "$client_go" | cut -d. -f2)
if [[ -z "$kube_minor" ]]; then
  echo "install-helm: cannot find the k8s.io/client-go version in $gomod" >&2
  exit 1
fi
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in pkg/chartutil pkg/lint/rules; do
  ldflags+=" -X helm.sh/helm/v3/$pkg.k8sVersionMajor=1 -X helm.sh/helm/v3/$pkg.k8sVersionMinor=$kube_minor"
done
# CGO off: a static binary that does not depend on the host's C toolchain.
GOBIN="$BIN_DIR" CGO_ENABLED=0 nice -n 10 go install -trimpath -ldflags "$ldflags" \
  "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
echo "$HELM_VERSION" >"$STAMP"
echo "install-helm: built helm $("$HELM" version --template '{{.Version}}') (Kubernetes 1.$kube_minor) in $(($(date +%s) - start))s" >&2
echo "$HELM"
