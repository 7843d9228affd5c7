"""A test OIDC issuer on loopback: a discovery document, a key set that can rotate, and signed ID tokens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey


class Issuer:
    """Signs tokens; ``serve()`` publishes its keys on loopback (an unserved issuer signs tokens nobody trusts)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
        self.fetches = 0
        self.url = "http://127.0.0.1:1"

    def serve(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/keys"}
                elif self.path == "/keys":
                    issuer.fetches += 1
                    body = KeySet([issuer.key]).as_dict(private=False)
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def rotate(self) -> None:
        """Replace the signing key (the old one is no longer published)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"key-{int(time.time() * 1000)}"})

    def token(self, subject: str, audience: str, groups: list[str] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "sub": subject, "aud": audience, "iat": now, "exp": now + 600, **claims}
        if groups is not None:
            body["groups"] = groups
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, body, self.key)


@contextmanager
def oidc_issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    issuer.serve()
    try:
        yield issuer
    finally:
        issuer._server.shutdown()
        issuer._server.server_close()
