"""Prometheus metrics of the service (exposed at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "kuberay_apiserver_requests_total",
    "API requests by operation (upstream RPC name), protocol and status code.",
    ["operation", "protocol", "code"],
)
LATENCY = Histogram(
    "kuberay_apiserver_request_duration_seconds",
    "API request latency by operation and protocol.",
    ["operation", "protocol"],
)
KUBE_ERRORS = Counter(
    "kuberay_apiserver_kube_errors_total",
    "Failed Kubernetes API calls by operation and reason.",
    ["operation", "reason"],
)
DB_ERRORS = Counter(
    "kuberay_apiserver_db_errors_total",
    "Failed database operations by operation.",
    ["operation"],
)
