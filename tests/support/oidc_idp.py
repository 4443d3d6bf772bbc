"""A minimal OpenID provider for tests: discovery + JWKS over real loopback HTTP, and token minting."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from mlplatform.modules.gateway.credentials.jwt_tokens import SingleAlgorithmRegistry

AUD = "mlplatform"


class TestIdP:
    """A minimal OpenID provider: discovery + JWKS over HTTP on 127.0.0.1, and a token minting helper."""

    __test__ = False

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.keys: list[RSAKey | ECKey] = [self._new_rsa("k1")]
        self.algs = ["RS256"]
        self.discovery_issuer: str | None = None
        self.broken = False
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                idp.hits[self.path] += 1
                if idp.broken:
                    self.send_error(500)
                    return
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": idp.discovery_issuer or idp.issuer,
                        "jwks_uri": f"{idp.issuer}/jwks",
                        "id_token_signing_alg_values_supported": idp.algs,
                        "token_endpoint": f"{idp.issuer}/token",
                    }
                elif self.path == "/jwks":
                    body = {"keys": [k.as_dict(private=False) for k in idp.keys]}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @staticmethod
    def _new_rsa(kid: str) -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})

    def rotate(self, kid: str) -> RSAKey:
        key = self._new_rsa(kid)
        self.keys = [key]
        return key

    def token(self, key: Any = None, *, alg: str = "RS256", header: dict[str, Any] | None = None, **claims: Any) -> str:
        key = key or self.keys[0]
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUD,
            "sub": "user-42",
            "email": "ada@example.test",
            "groups": ["team-a"],
            "iat": now,
            "exp": now + 300,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        hdr = {"alg": alg, "kid": key.kid, **(header or {})}
        hdr = {k: v for k, v in hdr.items() if v is not None}
        return jws.serialize_compact(hdr, json.dumps(payload), key, registry=SingleAlgorithmRegistry(alg))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
