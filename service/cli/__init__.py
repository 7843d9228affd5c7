"""The ``kuberay-apiserver`` command."""

from __future__ import annotations

import datetime
import logging
import os
import sys

import click

from service.cli.audit import audit
from service.settings import Settings, for_serving, load_settings
from service.tls import ServingCertificate, load_serving_certificate

log = logging.getLogger("kuberay_apiserver")


@click.group()
@click.version_option(package_name="kuberay-apiserver")
def main() -> None:
    """REST and gRPC API for Ray on Kubernetes, with an SQL audit trail."""


@main.command()
@click.option("--host", default=None, help="Listen address (default 127.0.0.1).")
@click.option("--http-port", type=int, default=None, help="HTTP port (default 8888).")
@click.option("--grpc-port", type=int, default=None, help="gRPC port (default 8887; 0 disables gRPC).")
@click.option(
    "--tls-cert-file",
    default=None,
    help="PEM certificate (chain) to serve HTTPS and gRPC over TLS with; needs --tls-key-file.",
)
@click.option("--tls-key-file", default=None, help="PEM private key of --tls-cert-file (unencrypted).")
@click.option("--kubeconfig", default=None, help="Kubeconfig file (default: KUBECONFIG, then in-cluster).")
@click.option(
    "--dev-cluster",
    is_flag=True,
    default=None,
    help="Use an in-memory Kubernetes emulation (not a real cluster).",
)
@click.option(
    "--dev-cluster-port", type=int, default=None, help="Port of the dev cluster (default: a free one)."
)
@click.option(
    "--no-migrate",
    "no_migrate",
    is_flag=True,
    default=False,
    help="Do not apply database migrations at start.",
)
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default=None)
@click.option("--log-level", default=None)
@click.option(
    "--auth",
    type=click.Choice(["none", "token", "oidc", "proxy"]),
    default=None,
    help="How callers are authenticated (default: none with --dev-cluster, else required).",
)
@click.option(
    "--allow-anonymous", is_flag=True, default=None, help="Accept --auth none against a real cluster."
)
@click.option("--oidc-issuer", default=None, help="OIDC issuer URL (--auth oidc).")
@click.option("--oidc-audience", default=None, help="Audience the tokens must carry (--auth oidc).")
@click.option("--oidc-username-claim", default=None, help="Claim naming the user (default sub).")
@click.option("--oidc-groups-claim", default=None, help="Claim listing the groups (default groups).")
@click.option("--oidc-jwks-url", default=None, help="The issuer's key set, if discovery does not give it.")
@click.option("--proxy-user-header", default=None, help="Header naming the user (default X-Forwarded-User).")
@click.option(
    "--proxy-groups-header", default=None, help="Header listing groups (default X-Forwarded-Groups)."
)
@click.option(
    "--proxy-trusted-cidrs", default=None, help="Comma-separated addresses of the proxy (--auth proxy)."
)
def serve(
    host: str | None,
    http_port: int | None,
    grpc_port: int | None,
    tls_cert_file: str | None,
    tls_key_file: str | None,
    kubeconfig: str | None,
    dev_cluster: bool | None,
    dev_cluster_port: int | None,
    no_migrate: bool,
    log_format: str | None,
    log_level: str | None,
    **auth_options: str | bool | None,
) -> None:
    """Serve the HTTP API (and gRPC) until interrupted."""
    import uvicorn

    from service.app import create_app
    from service.cli.http_server import protocol_with_header_timeout
    from service.log import configure_logging

    try:
        settings = load_settings(
            os.environ,
            host=host,
            http_port=http_port,
            grpc_port=grpc_port,
            tls_cert_file=tls_cert_file,
            tls_key_file=tls_key_file,
            kubeconfig=kubeconfig,
            dev_cluster=dev_cluster,
            dev_cluster_port=dev_cluster_port,
            migrate=False if no_migrate else None,
            log_format=log_format,
            log_level=log_level,
            **auth_options,
        )
        settings = for_serving(settings)
        certificate = load_serving_certificate(settings.tls_cert_file, settings.tls_key_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    configure_logging(settings.log_format, settings.log_level)
    if certificate is not None:
        _log_certificate(certificate, settings)
    config = uvicorn.Config(
        create_app(settings),
        http=protocol_with_header_timeout(settings.header_timeout),
        host=settings.host,
        port=settings.http_port,
        ssl_certfile=settings.tls_cert_file or None,
        ssl_keyfile=settings.tls_key_file or None,
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        sys.exit(1)


def _log_certificate(certificate: ServingCertificate, settings: Settings) -> None:
    """Say that the ports serve TLS, with which certificate until when (never anything of the key)."""
    grpc = f" and gRPC over TLS on port {settings.grpc_port}" if settings.grpc_port else ""
    details = {
        "certificate_file": settings.tls_cert_file,
        "subject": certificate.subject,
        "not_after": certificate.not_after.isoformat(),
    }
    log.info("serving HTTPS on port %d%s", settings.http_port, grpc, extra=details)
    left = certificate.not_after - datetime.datetime.now(datetime.UTC)
    if left <= datetime.timedelta(0):
        log.error("the TLS certificate has expired: clients will refuse the connection", extra=details)
    elif left < datetime.timedelta(days=7):
        log.warning("the TLS certificate expires in less than a week; renew it and restart", extra=details)


main.add_command(audit)
