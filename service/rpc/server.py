"""The gRPC server: the four V1 services, server reflection, the standard health service, and one interceptor
for request ids, metrics and the access log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import msgspec
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.deadline import request_deadline
from service.errors import ApiError, Code
from service.identity import act_as
from service.managers.authentication import Authenticator, credentials_from
from service.managers.context import Caller
from service.metrics import LATENCY, REQUESTS
from service.rpc.proto_gen import (
    cluster_pb2,
    cluster_pb2_grpc,
    config_pb2,
    config_pb2_grpc,
    job_pb2,
    job_pb2_grpc,
    job_submission_pb2,
    job_submission_pb2_grpc,
    serve_pb2,
    serve_pb2_grpc,
)
from service.rpc.servicers import (
    ClusterServicer,
    ComputeTemplateServicer,
    JobSubmissionServicer,
    RayJobServicer,
    RayServeServicer,
    current_caller,
    status_code,
)
from service.tls import load_serving_certificate
from service.vocabulary import Action, Resource

if TYPE_CHECKING:
    from service.managers.registry import Managers
    from service.settings import Settings

log = logging.getLogger("kuberay_apiserver.access")

# Same order as upstream registers them.
SERVICE_NAMES = (
    cluster_pb2.DESCRIPTOR.services_by_name["ClusterService"].full_name,
    config_pb2.DESCRIPTOR.services_by_name["ComputeTemplateService"].full_name,
    job_pb2.DESCRIPTOR.services_by_name["RayJobService"].full_name,
    serve_pb2.DESCRIPTOR.services_by_name["RayServeService"].full_name,
    job_submission_pb2.DESCRIPTOR.services_by_name["RayJobSubmissionService"].full_name,
)
_API_PREFIX = "/proto."  # methods of the services above; health and reflection calls are not API requests

Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


# The changes among the RPCs, for auditing refused calls.
CHANGES = {
    "CreateComputeTemplate": (Resource.COMPUTE_TEMPLATES, Action.CREATE),
    "DeleteComputeTemplate": (Resource.COMPUTE_TEMPLATES, Action.DELETE),
    "CreateCluster": (Resource.CLUSTERS, Action.CREATE),
    "DeleteCluster": (Resource.CLUSTERS, Action.DELETE),
    "CreateRayJob": (Resource.JOBS, Action.CREATE),
    "DeleteRayJob": (Resource.JOBS, Action.DELETE),
    "CreateRayService": (Resource.SERVICES, Action.CREATE),
    "UpdateRayService": (Resource.SERVICES, Action.UPDATE),
    "DeleteRayService": (Resource.SERVICES, Action.DELETE),
    # Partial updates (beyond upstream).
    "UpdateCluster": (Resource.CLUSTERS, Action.UPDATE),
    "UpdateRayJob": (Resource.JOBS, Action.UPDATE),
    "UpdateRayServiceConfigs": (Resource.SERVICES, Action.UPDATE),
    "UpdateComputeTemplate": (Resource.COMPUTE_TEMPLATES, Action.UPDATE),
}
# Job submissions share a method name with RayJobService (DeleteRayJob): looked up by full method first.
_SUBMISSIONS = "/proto.RayJobSubmissionService/"
SUBMISSION_CHANGES = {
    _SUBMISSIONS + "SubmitRayJob": (Resource.JOB_SUBMISSIONS, Action.CREATE),
    _SUBMISSIONS + "StopRayJob": (Resource.JOB_SUBMISSIONS, Action.STOP),
    _SUBMISSIONS + "DeleteRayJob": (Resource.JOB_SUBMISSIONS, Action.DELETE),
}


def change_of(method: str) -> tuple[Resource, Action] | None:
    """What a gRPC method changes (None for reads)."""
    if method.startswith(_SUBMISSIONS):
        return SUBMISSION_CHANGES.get(method)
    return CHANGES.get(method.rsplit("/", 1)[-1])


def peer_address(peer: str) -> str:
    """The IP of a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    return ""


def _target(request: Any) -> tuple[str, str]:
    """The namespace and name a request is about (the name may sit in its message)."""
    namespace = str(getattr(request, "namespace", "") or "")
    name = str(getattr(request, "name", "") or "")
    if hasattr(request, "clustername"):  # a job submission: named <cluster>/<submission id>
        inner = getattr(request, "jobsubmission", None)
        submission = str(getattr(request, "submissionid", "") or getattr(inner, "submission_id", "") or "")
        return namespace, f"{request.clustername}/{submission}"
    for field in ("cluster", "compute_template", "job", "service"):
        inner = getattr(request, field, None)
        if not name and inner is not None:
            name = str(getattr(inner, "name", "") or "")
    return namespace, name


class ApiInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary API call: request id, authentication, deadline, Prometheus metrics and one access-log
    line.

    The wrapping happens around the handler itself (not around ``continuation``) so that the context variables
    (request id, caller, identity) are set in the task that runs the servicer.
    """

    def __init__(self, managers: Managers, authenticator: Authenticator, request_timeout: float) -> None:
        self.managers = managers
        self.authenticator = authenticator
        self.request_timeout = request_timeout

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(_API_PREFIX):
            return handler
        pairs = [(str(k), v) for k, v in handler_call_details.invocation_metadata or () if isinstance(v, str)]
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method, pairs),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: Any, method: str, pairs: list[tuple[str, str]]) -> Behavior:
        operation = method.rsplit("/", 1)[-1]  # the upstream RPC name, as the HTTP metrics use it
        metadata = dict(pairs)
        given_id = metadata.get("x-request-id", "")

        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            request_id = given_id[:64] if given_id and given_id.isprintable() else uuid.uuid4().hex
            caller = Caller(
                request_id=request_id,
                source_ip=peer_address(context.peer()),
                user_agent=metadata.get("user-agent", ""),
            )
            structlog.contextvars.bind_contextvars(request_id=request_id)
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            token = current_caller.set(caller)
            try:
                await context.send_initial_metadata((("x-request-id", request_id),))
                credentials = credentials_from(pairs, caller.source_ip)
                try:
                    identity = await self.authenticator.authenticate(credentials)
                except ApiError as exc:
                    code = status_code(int(exc.code))
                    change = change_of(method)
                    if exc.code == Code.UNAUTHENTICATED and change is not None:
                        resource, action = change
                        namespace, name = _target(request)
                        await self.managers.audit.record_refusal(
                            caller, resource, action, namespace, name, exc
                        )
                    await context.abort(code, exc.message)
                current_caller.set(msgspec.structs.replace(caller, identity=identity))
                try:
                    with (
                        act_as(identity if identity.method != "none" else None),
                        request_deadline(self.request_timeout),
                    ):
                        async with asyncio.timeout(self.request_timeout + 1.0):
                            return await behavior(request, context)
                except TimeoutError:
                    code = grpc.StatusCode.DEADLINE_EXCEEDED
                    await context.abort(code, f"request did not finish within {self.request_timeout:g}s")
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the client went away or its deadline passed
                raise
            except BaseException:
                # context.abort raises after recording the status; anything else is the server's own failure.
                code = context.code() or code or grpc.StatusCode.UNKNOWN
                raise
            finally:
                elapsed = time.perf_counter() - started
                code_name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                REQUESTS.labels(operation=operation, protocol="grpc", code=code_name).inc()
                LATENCY.labels(operation=operation, protocol="grpc").observe(elapsed)
                log.info(
                    "request",
                    extra={
                        "method": method,
                        "protocol": "grpc",
                        "code": code_name,
                        "operation": operation,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
                structlog.contextvars.unbind_contextvars("request_id")
                current_caller.reset(token)

        return wrapped


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


async def start_grpc_server(
    managers: Managers, authenticator: Authenticator, settings: Settings
) -> grpc.aio.Server:
    """Start serving the V1 API over gRPC on the configured port, over TLS when the settings give a certificate
    (else plain text); the caller stops the server."""
    host, port = settings.host, settings.grpc_port
    server = grpc.aio.server(interceptors=[ApiInterceptor(managers, authenticator, settings.request_timeout)])
    cluster_pb2_grpc.add_ClusterServiceServicer_to_server(ClusterServicer(managers), server)  # type: ignore[no-untyped-call]
    config_pb2_grpc.add_ComputeTemplateServiceServicer_to_server(ComputeTemplateServicer(managers), server)  # type: ignore[no-untyped-call]
    job_pb2_grpc.add_RayJobServiceServicer_to_server(RayJobServicer(managers), server)  # type: ignore[no-untyped-call]
    serve_pb2_grpc.add_RayServeServiceServicer_to_server(RayServeServicer(managers), server)  # type: ignore[no-untyped-call]
    job_submission_pb2_grpc.add_RayJobSubmissionServiceServicer_to_server(
        JobSubmissionServicer(managers), server
    )  # type: ignore[no-untyped-call]

    # The process serves whenever it is up; readiness of its dependencies is HTTP /readyz's job.
    health_servicer = health.aio.HealthServicer()
    for name in ("", *SERVICE_NAMES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)

    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = _address(host, port)
    certificate = load_serving_certificate(settings.tls_cert_file, settings.tls_key_file)
    if certificate is None:
        bound = server.add_insecure_port(address)
    else:
        credentials = grpc.ssl_server_credentials([(certificate.private_key, certificate.certificate_chain)])
        bound = server.add_secure_port(address, credentials)
    if bound == 0:
        raise RuntimeError(f"cannot listen for gRPC on {address}")
    await server.start()
    log.info(
        "gRPC listening on %s%s",
        address,
        " over TLS" if certificate else "",
        extra={"services": list(SERVICE_NAMES), "tls": certificate is not None},
    )
    return server
