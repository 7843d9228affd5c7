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
INFORMER_LISTS = Counter(
    "kuberay_apiserver_informer_lists_total",
    "Full lists made by the informers that feed the read model (the first, then one per 410 Gone).",
    ["resource"],
)
INFORMER_EVENTS = Counter(
    "kuberay_apiserver_informer_events_total",
    "Watch events applied to the read model by resource and type.",
    ["resource", "type"],
)
