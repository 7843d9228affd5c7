#!/usr/bin/env bash
# Installs the Debian packages the tests need when they are missing (the PostgreSQL server the fixtures start,
# curl for the README examples, openssl for the test kube-apiserver's certificates). A no-op when all are there;
# needs root (or sudo) otherwise. etcd is built from Go modules (hack/build-kube-apiserver.sh): Debian's is 3.4.
set -euo pipefail
need=()
command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Headless Chromium opens the API docs page in a test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${need[@]}" >/dev/null
