# Pinned versions of every tool the tests build or fetch: the one place to change them.
# Sourced by the hack/ scripts; tests/support/tools.py reads the same lines.

# Newest 1.34 patch the Go module proxy serves (v1.34.6 and v1.34.13+ answer 403 there).
KUBE_VERSION=v1.34.12
# etcd built from Go modules (Debian's 3.4 lacks what kube-apiserver 1.34's watch cache needs).
ETCD_VERSION=v3.6.16
HELM_VERSION=v3.21.4
# The KubeRay operator module whose config/crd/bases/ holds the CRDs the tests install and validate against
# (the newest release the module proxy serves; v1.6 added spec.authOptions); the operator tier builds and runs
# this same release.
KUBERAY_VERSION=v1.6.1
# Fake nodes and simulated pod phases for the operator tier (sigs.k8s.io/kwok, the newest the proxy serves).
KWOK_VERSION=v0.8.0
