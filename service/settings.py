"""Typed settings, read from the environment and overridden by command-line flags.

Nothing is read at import time: ``load_settings`` is called by the CLI and by tests with the mapping to read.
Every environment variable is ``KUBERAY_APISERVER_<FIELD NAME IN UPPER CASE>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec

from service.tls import load_serving_certificate

ENV_PREFIX = "KUBERAY_APISERVER_"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./kuberay-apiserver.db"


class Settings(msgspec.Struct, kw_only=True):
    """How the service runs."""

    host: str = "127.0.0.1"
    """Address the HTTP and gRPC servers listen on."""
    http_port: int = 8888
    """HTTP (REST) port; upstream's default."""
    grpc_port: int = 8887
    """gRPC port; upstream's default. 0 disables the gRPC server."""
    tls_cert_file: str = ""
    """PEM certificate (the server's first, then any intermediates) to serve HTTPS and gRPC over TLS with; needs
    ``tls_key_file``. Empty: plain HTTP and plain-text gRPC (kubectl then sends no bearer token)."""
    tls_key_file: str = ""
    """PEM private key of ``tls_cert_file``, unencrypted (as a Kubernetes TLS Secret holds it)."""
    kubeconfig: str = ""
    """Kubeconfig file; empty means ``KUBECONFIG``, then the in-cluster service account."""
    dev_cluster: bool = False
    """Serve an in-memory emulation of the Kubernetes API in-process instead of using a real cluster."""
    dev_cluster_port: int = 0
    """Port of the dev cluster on loopback (0 picks a free one); handy for pointing kubectl at it."""
    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://user:pw@host/db``."""
    migrate: bool = True
    """Apply pending Alembic migrations at start."""
    log_format: Literal["auto", "json", "console"] = "auto"
    """``json`` for production, ``console`` for a terminal; ``auto`` picks console when stderr is a TTY."""
    log_level: str = "INFO"
    """Root log level."""
    kube_timeout: float = 15.0
    """Seconds allowed for one Kubernetes API call before the request fails with 503/504."""
    db_timeout: float = 10.0
    """Seconds allowed for one database operation."""
    request_timeout: float = 60.0
    """Upper bound for one API request (upstream's gRPC deadline)."""
    kube_concurrency: int = 32
    """Concurrent Kubernetes calls allowed per process."""
    retention_days: float = 0.0
    """Days to keep audit rows and deleted-resource history; 0 keeps them forever."""
    retention_interval: float = 3600.0
    """Seconds between two background pruning runs (when retention is on)."""
    auth: Literal["", "none", "token", "oidc", "proxy"] = ""
    """How callers are authenticated: ``token`` (Kubernetes TokenReview of a bearer token), ``oidc`` (a JWT checked
    against the issuer's keys), ``proxy`` (an authenticating proxy's headers, from trusted addresses only) or
    ``none``. Empty: ``none`` with the dev cluster; otherwise the service refuses to start until one is chosen."""
    allow_anonymous: bool = False
    """Allow ``auth=none`` against a real cluster (every caller then acts with the service's own rights)."""
    token_cache_seconds: float = 10.0
    """How long a TokenReview answer (or an access review) is reused for the same token (or caller and question)."""
    oidc_issuer: str = ""
    """The issuer URL (``iss``); its discovery document gives the keys unless ``oidc_jwks_url`` is set."""
    oidc_audience: str = ""
    """The audience (``aud``) tokens must carry."""
    oidc_username_claim: str = "sub"
    oidc_groups_claim: str = "groups"
    oidc_jwks_url: str = ""
    """The issuer's JSON Web Key Set, when not found by discovery."""
    proxy_user_header: str = "X-Forwarded-User"
    proxy_groups_header: str = "X-Forwarded-Groups"
    """Comma-separated groups (the header may also repeat)."""
    proxy_trusted_cidrs: str = ""
    """Addresses (comma-separated CIDRs) of the proxy; its headers are ignored from anywhere else."""
    metrics_public: bool = True
    """Serve ``/metrics`` without credentials (off: it needs them like the API)."""
    cors_allow_origin: str = ""
    """Browser origin allowed to call the API (CORS), e.g. ``https://ray-ui.example.com`` or ``*``; empty: none."""
    watch: bool = True
    """Run informers (one list + watch per kind): reads are served from memory and deletions made outside the API
    are recorded. Off: every read goes to Kubernetes and only the reconciler notices outside deletions."""
    watch_namespace: str = ""
    """Watch (and serve from memory) only this namespace, for a namespace-scoped install; empty: every namespace.
    Reads elsewhere go to Kubernetes."""
    read_cache: bool = True
    """With ``watch``, serve gets and lists from the informers' read model (off: from Kubernetes, for comparison)."""
    reconcile_interval: float = 30.0
    """Seconds between two runs of the reconciler (settles interrupted changes, closes vanished resources)."""
    header_timeout: float = 10.0
    """Seconds a client may take to send a request's headers before the connection is closed."""
    max_body_bytes: int = 10 * 1024 * 1024
    """Largest request body accepted (413 above it)."""
    # -- job submission (the Ray dashboard of a running cluster) ------------------------------------------------
    dashboard_urls: str = ""
    """Where a cluster's Ray dashboard answers, overriding the default: comma-separated ``NAMESPACE/CLUSTER=URL``
    entries; ``*`` matches any namespace or cluster, the first match wins, and the URL may contain ``{namespace}``
    and ``{cluster}`` (e.g. ``*/*=http://{cluster}-head-svc.{namespace}:8265``). Without a match: the head
    service's cluster DNS name when the service runs in a pod, else the Kubernetes API's service proxy."""
    dashboard_timeout: float = 5.0
    """Seconds allowed for one call to a Ray dashboard before the request fails with 503 (code 14)."""
    log_follow_seconds: float = 600.0
    """Longest a followed job log (``?follow=true``) streams before the server ends it (the client may reconnect)."""
    log_poll_seconds: float = 0.5
    """How often a followed job log asks the dashboard for new lines."""


def load_settings(environ: Mapping[str, str], **overrides: Any) -> Settings:
    """Build settings from ``environ`` (only ``KUBERAY_APISERVER_*`` keys), then apply non-None overrides."""
    fields = {f.name for f in msgspec.structs.fields(Settings)}
    raw: dict[str, Any] = {}
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in fields:
                raw[name] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid setting: {exc}") from None


def parse_dashboard_urls(raw: str) -> list[tuple[str, str, str]]:
    """``NAMESPACE/CLUSTER=URL`` entries, comma-separated; a ``ValueError`` names a malformed one."""
    entries = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, url = item.partition("=")
        namespace, slash, cluster = key.strip().partition("/")
        url = url.strip()
        if (
            not sep
            or not slash
            or not namespace
            or not cluster
            or not url.startswith(("http://", "https://"))
        ):
            raise ValueError(
                f"invalid dashboard URL entry {item!r}: expected NAMESPACE/CLUSTER=http(s)://HOST:PORT "
                "(NAMESPACE or CLUSTER may be *)"
            )
        entries.append((namespace, cluster, url.rstrip("/")))
    return entries


def for_serving(settings: Settings) -> Settings:
    """Settings to serve with: the authentication mode decided, or a ``ValueError`` saying what is missing."""
    mode = settings.auth or ("none" if settings.dev_cluster else "")
    if not mode:
        raise ValueError(
            "choose how callers are authenticated: --auth token (Kubernetes TokenReview), oidc or proxy; "
            "or --auth none --allow-anonymous to let every caller act with the service's own rights"
        )
    if mode == "none" and not settings.dev_cluster and not settings.allow_anonymous:
        raise ValueError(
            "--auth none against a real cluster lets anyone who reaches the port act with the service's own "
            "Kubernetes rights and name any user in the audit trail; add --allow-anonymous to accept that"
        )
    if mode == "oidc" and not (settings.oidc_issuer and settings.oidc_audience):
        raise ValueError("--auth oidc needs --oidc-issuer and --oidc-audience")
    if mode == "proxy" and not settings.proxy_trusted_cidrs:
        raise ValueError("--auth proxy needs --proxy-trusted-cidrs: the addresses the proxy connects from")
    parse_dashboard_urls(settings.dashboard_urls)  # a malformed entry stops the start, naming it
    load_serving_certificate(settings.tls_cert_file, settings.tls_key_file)  # and an unservable certificate
    if mode == "proxy":
        import ipaddress

        try:
            for cidr in settings.proxy_trusted_cidrs.split(","):
                ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid --proxy-trusted-cidrs: {exc}") from None
    return msgspec.structs.replace(settings, auth=mode)
