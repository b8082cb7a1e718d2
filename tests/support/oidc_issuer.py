"""A small OpenID provider of our own on 127.0.0.1: a discovery document, a JWKS, signed tokens.

It serves over real HTTP what any provider serves (so the services fetch, cache and refresh
keys as they would from Keycloak or Azure AD), and signs tokens with any claims at all, which a
real provider will not do: tokens with claims of the wrong type come from here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa


class SigningKey:
    """One key pair: RS256 (RSA 2048) or ES256 (P-256)."""

    def __init__(self, algorithm: str = "RS256", kid: str | None = None) -> None:
        self.algorithm = algorithm
        self.kid = kid or f"{algorithm.lower()}-{uuid.uuid4().hex[:8]}"
        if algorithm == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            algo = jwt.algorithms.RSAAlgorithm
        elif algorithm == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
            algo = jwt.algorithms.ECAlgorithm
        else:
            raise ValueError(algorithm)
        self.jwk: dict[str, Any] = json.loads(algo.to_jwk(self.private.public_key()))
        self.jwk.update(kid=self.kid, use="sig", alg=algorithm)


class LocalIssuer:
    """The provider: its URL is the issuer; keys can be added and withdrawn while it runs."""

    def __init__(self) -> None:
        self.keys: list[SigningKey] = []
        self.requests: list[str] = []
        self.down = False
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                if issuer.down:
                    self.send_error(503)
                    return
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {"issuer": issuer.url,
                                            "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [key.jwk for key in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_key(self, algorithm: str = "RS256") -> SigningKey:
        key = SigningKey(algorithm)
        self.keys.append(key)
        return key

    def jwks_fetches(self) -> int:
        return self.requests.count("/jwks")

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None, *,
             audience: str = "tenure-api", ttl: int = 300, **header: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.url, "aud": audience, "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(body, key.private, algorithm=key.algorithm,
                          headers={"kid": key.kid, **header})


@contextmanager
def local_issuer(*algorithms: str) -> Iterator[LocalIssuer]:
    issuer = LocalIssuer()
    for algorithm in algorithms or ("RS256",):
        issuer.add_key(algorithm)
    issuer._thread.start()
    try:
        yield issuer
    finally:
        issuer.server.shutdown()
        issuer.server.server_close()
