"""Who is calling: one authenticator per mode, shared by HTTP and gRPC.

* ``none``: everyone is anonymous; Kubernetes calls use the service's own rights (the dev cluster's default).
* ``token``: ``Authorization: Bearer <token>``, checked by Kubernetes with a TokenReview, so ServiceAccount tokens
  and whatever authenticators the cluster has (OIDC included) work; answers are cached briefly by token hash.
* ``oidc``: a JWT verified here against the issuer's published keys (refetched when an unknown key id appears,
  so key rotation needs nothing from the operator).
* ``proxy``: an authenticating proxy's headers, believed only from the proxy's own addresses.

Failures are ``UnauthenticatedError`` (401 / UNAUTHENTICATED) whose message says which mode is on and what to
send; a Kubernetes API that cannot answer a TokenReview is a 503, not a 401.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import msgspec

from service.errors import ApiError, UnauthenticatedError, UnavailableError
from service.identity import Identity, as_service
from service.kube.client import KubeClient
from service.kube.errors import KubeError
from service.managers.context import ANONYMOUS
from service.settings import Settings
from service.vocabulary import TOKEN_REVIEWS

if TYPE_CHECKING:
    from joserfc.jwk import KeySet

log = logging.getLogger("kuberay_apiserver.auth")

# Asymmetric algorithms only: an HMAC key would have to be shared, and "none" verifies nothing.
OIDC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_CACHE_LIMIT = 10_000


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """What a request offers to prove who sent it."""

    authorization: tuple[str, ...] = ()
    """Every ``Authorization`` header (or gRPC ``authorization`` metadata) value."""
    headers: Mapping[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    """All headers by lower-case name, for the proxy mode."""
    peer: str = ""
    """The address the connection comes from."""


class Authenticator(Protocol):
    mode: str

    async def authenticate(self, credentials: Credentials) -> Identity: ...

    async def close(self) -> None: ...


def bearer_token(credentials: Credentials, mode: str) -> str:
    """The one bearer token of a request, or a 401 that says what to send."""
    hint = f"authentication is on (mode {mode}): send 'Authorization: Bearer <token>'"
    if len(credentials.authorization) != 1:
        raise UnauthenticatedError(
            f"no credentials: {hint}"
            if not credentials.authorization
            else f"several Authorization headers: {hint}"
        )
    scheme, _, token = credentials.authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError(f"the Authorization header is not a bearer token: {hint}")
    return token.strip()


class TimedCache:
    """Answers kept for a few seconds, keyed by a hash (tokens themselves are never kept)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: str, value: Any, seconds: float | None = None) -> None:
        if len(self._entries) >= _CACHE_LIMIT:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            if len(self._entries) >= _CACHE_LIMIT:
                self._entries.clear()
        self._entries[key] = (time.monotonic() + (self.seconds if seconds is None else seconds), value)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NoAuthenticator:
    mode = "none"

    async def authenticate(self, credentials: Credentials) -> Identity:
        return ANONYMOUS

    async def close(self) -> None:
        return None


class TokenReviewAuthenticator:
    mode = "token"

    def __init__(self, kube: KubeClient, cache_seconds: float) -> None:
        self.kube = kube
        self.cache = TimedCache(cache_seconds)

    async def authenticate(self, credentials: Credentials) -> Identity:
        token = bearer_token(credentials, self.mode)
        key = _digest(token)
        found, identity = self.cache.get(key)
        if not found:
            identity = await self._review(token)
            # Refusals are kept shorter: a token just issued may not be known everywhere yet.
            self.cache.put(key, identity, None if identity is not None else min(self.cache.seconds, 2.0))
        if identity is None:
            raise UnauthenticatedError(
                "the bearer token was not accepted by Kubernetes (mode token): send a valid, unexpired token"
            )
        result: Identity = identity
        return result

    async def _review(self, token: str) -> Identity | None:
        review = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}}
        try:
            with as_service():
                answer = await self.kube.create(TOKEN_REVIEWS, None, review)
        except KubeError as exc:
            raise UnavailableError(f"the Kubernetes API could not review the token: {exc.message}") from None
        status = answer.get("status") or {}
        user = status.get("user") or {}
        if not status.get("authenticated") or not user.get("username"):
            return None
        return Identity(
            user=str(user["username"]), groups=tuple(str(g) for g in user.get("groups") or ()), method="token"
        )

    async def close(self) -> None:
        return None


class OidcAuthenticator:
    mode = "oidc"
    # A token signed with an unknown key makes the service fetch the keys again, at most this often (a flood of
    # made-up key ids must not become a flood of requests to the issuer).
    REFRESH_AT_MOST_EVERY = 1.0

    def __init__(self, settings: Settings) -> None:
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.username_claim = settings.oidc_username_claim
        self.groups_claim = settings.oidc_groups_claim
        self.jwks_url = settings.oidc_jwks_url
        self.timeout = settings.kube_timeout
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self._session.get(url) as response:
            response.raise_for_status()
            return await response.json(content_type=None)

    async def _key_set(self, refresh: bool) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        asked = time.monotonic()
        async with self._lock:
            # A token signed with an unknown key waits for the next fetch rather than failing: keys are fetched
            # at most once a second, and one fetch serves every request that was waiting for it (a rotation
            # right after a fetch is then seen within a second, and a flood of bogus key ids costs one fetch a
            # second).
            fetched_since = self._fetched_at >= asked
            if self._keys is None or (refresh and not fetched_since):
                wait = self._fetched_at + self.REFRESH_AT_MOST_EVERY - time.monotonic()
                if self._keys is not None and wait > 0:
                    await asyncio.sleep(wait)
                try:
                    url = self.jwks_url
                    if not url:
                        discovery = await self._get_json(
                            self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                        )
                        url = str(discovery["jwks_uri"])
                    self._keys = KeySet.import_key_set(await self._get_json(url))
                    self._fetched_at = time.monotonic()
                except (aiohttp.ClientError, TimeoutError, KeyError, ValueError, JoseError) as exc:
                    if self._keys is None:
                        raise UnavailableError(
                            f"the OIDC issuer's keys could not be fetched: {type(exc).__name__}"
                        ) from None
                    log.warning("could not refresh the OIDC issuer's keys: %s", type(exc).__name__)
            assert self._keys is not None
            return self._keys

    async def authenticate(self, credentials: Credentials) -> Identity:
        token = bearer_token(credentials, self.mode)
        claims = await self._verified_claims(token)
        user = claims.get(self.username_claim)
        if not isinstance(user, str) or not user:
            raise UnauthenticatedError(
                f"the token has no {self.username_claim!r} claim to name the user (mode oidc)"
            )
        groups = claims.get(self.groups_claim) or []
        if isinstance(groups, str):
            groups = [groups]
        return Identity(user=user, groups=tuple(str(g) for g in groups if isinstance(g, str)), method="oidc")

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        # Imported here: JOSE and its cryptography cost 15 MiB of memory that only the oidc mode needs.
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError

        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.audience},
            exp={"essential": True},
        )
        for refresh in (False, True):  # an unknown key: the issuer may have rotated its keys
            keys = await self._key_set(refresh)
            try:
                decoded = jwt.decode(token, keys, algorithms=list(OIDC_ALGORITHMS))
            except InvalidKeyIdError:
                continue  # fetch the keys again (at most every few seconds), then try once more
            except (ValueError, JoseError) as exc:
                raise UnauthenticatedError(
                    f"the token's signature does not verify (mode oidc): {type(exc).__name__}"
                ) from None
            try:
                registry.validate(decoded.claims)
            except JoseError as exc:
                raise UnauthenticatedError(
                    f"the token is not valid here (mode oidc): {exc.description or type(exc).__name__}"
                ) from None
            return dict(decoded.claims)
        raise UnauthenticatedError("the token's signing key is unknown to the issuer (mode oidc)")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class ProxyAuthenticator:
    mode = "proxy"

    def __init__(self, settings: Settings) -> None:
        self.user_header = settings.proxy_user_header.lower()
        self.groups_header = settings.proxy_groups_header.lower()
        self.trusted = [
            ipaddress.ip_network(c.strip(), strict=False) for c in settings.proxy_trusted_cidrs.split(",")
        ]

    def _trusted(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    async def authenticate(self, credentials: Credentials) -> Identity:
        hint = f"authentication is on (mode proxy): send requests through the authenticating proxy, which sets {self.user_header}"
        if not self._trusted(credentials.peer):
            # Anyone can write these headers; only the proxy's are believed.
            raise UnauthenticatedError(f"not from the authenticating proxy: {hint}")
        users = credentials.headers.get(self.user_header, ())
        if len(users) != 1 or not users[0].strip():
            raise UnauthenticatedError(
                f"the proxy sent {'no' if not users else 'several'} {self.user_header}: {hint}"
            )
        groups = [
            g.strip() for value in credentials.headers.get(self.groups_header, ()) for g in value.split(",")
        ]
        return Identity(user=users[0].strip(), groups=tuple(g for g in groups if g), method="proxy")

    async def close(self) -> None:
        return None


def build_authenticator(settings: Settings, kube: KubeClient) -> Authenticator:
    if settings.auth == "token":
        return TokenReviewAuthenticator(kube, settings.token_cache_seconds)
    if settings.auth == "oidc":
        return OidcAuthenticator(settings)
    if settings.auth == "proxy":
        return ProxyAuthenticator(settings)
    return NoAuthenticator()


def credentials_from(pairs: Sequence[tuple[str, str]], peer: str) -> Credentials:
    """Credentials from header (or metadata) pairs, names in any case."""
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        headers.setdefault(name.lower(), []).append(value)
    return Credentials(
        authorization=tuple(headers.get("authorization", ())),
        headers={name: tuple(values) for name, values in headers.items()},
        peer=peer,
    )


__all__ = [
    "ANONYMOUS",
    "ApiError",
    "Authenticator",
    "Credentials",
    "build_authenticator",
    "credentials_from",
]
