"""A small OpenID provider that lies on purpose (Flask + joserfc): the relying-party negative cases oidc-provider
cannot produce (wrong iss / aud / nonce / acr, alg=none, bad signature, unknown or rotated kid, userinfo sub
mismatch, signed and encrypted userinfo). ../shared/specs/smart-auth-portals.md §5.3 (OpenID RP Basic plan).

It logs every user in at once (no pages): /authorize redirects straight back with a code. ``mode`` says how the
next answers are twisted; :meth:`EvilIdp.reset` clears it between tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, redirect, request
from joserfc import jwe, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

CLIENT_SECRET = "evil-secret"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class EvilIdp:
    def __init__(self, encryption_public: RSAKey) -> None:
        self.base = ""
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "evil-1", "use": "sig"}, private=True)
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "evil-ec", "use": "sig"}, private=True)
        self.stranger = RSAKey.generate_key(2048, parameters={"kid": "evil-1"}, private=True)
        self.rotated = RSAKey.generate_key(2048, parameters={"kid": "evil-2", "use": "sig"}, private=True)
        self.encryption_public = encryption_public
        self.mode: dict[str, Any] = {}
        self.published: list[Any] = []
        self.codes: dict[str, dict[str, str]] = {}
        self.logouts: list[dict[str, str]] = []
        self.access: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        self.mode = {}
        self.published = [self.rsa, self.ec]
        self.logouts = []

    def rotate(self) -> None:
        """Publish a new key and sign with it from now on (a relying party must fetch the JWKS again)."""
        self.published = [self.rsa, self.ec, self.rotated]
        self.mode["signer"] = "rotated"

    # --- tokens ------------------------------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        alg = self.mode.get("alg", "RS256")
        if alg == "none":
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        signer = {"rotated": self.rotated, "stranger": self.stranger}.get(self.mode.get("signer", ""), self.rsa)
        if alg == "ES256":
            return jwt.encode({"alg": "ES256", "kid": "evil-ec"}, claims, self.ec)
        header: dict[str, Any] = {"alg": "RS256", "kid": self.mode.get("kid", signer.kid)}
        if self.mode.get("no_kid"):
            header.pop("kid")
        return jwt.encode(header, claims, signer)

    def id_token(self, params: dict[str, str]) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.mode.get("iss", self.base), "aud": self.mode.get("aud",
                                  params["client_id"]), "sub": self.mode.get("sub", "evil-subject-1"),
                                  "exp": now + 60, "iat": self.mode.get("iat", now),
                                  "nonce": self.mode.get("nonce", params.get("nonce")),
                                  "acr": self.mode.get("acr", params.get("acr_values", "eidas1"))}
        claims.update(self.mode.get("claims", {}))
        return self._sign({k: v for k, v in claims.items() if v is not None})

    def userinfo_body(self, client_id: str) -> Response:
        claims = {"sub": self.mode.get("userinfo_sub", self.mode.get("sub", "evil-subject-1")),
                  **self.mode.get("claims", {})}
        kind = self.mode.get("userinfo", "json")
        if kind == "json":
            return Response(json.dumps(claims), content_type="application/json")
        signed = self._sign({**claims, "iss": self.base, "aud": client_id})
        if kind == "jwt":
            return Response(signed, content_type="application/jwt")
        encrypted = jwe.encrypt_compact({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, signed,
                                        self.encryption_public, algorithms=["RSA-OAEP-256", "A256GCM"])
        return Response(encrypted, content_type="application/jwt")

    # --- the Flask app -----------------------------------------------------------------------------

    def app(self) -> Flask:
        app = Flask("evil_idp")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Response:
            return Response(json.dumps({
                "issuer": self.base, "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token", "userinfo_endpoint": f"{self.base}/userinfo",
                "jwks_uri": f"{self.base}/jwks", "end_session_endpoint": f"{self.base}/logout",
                "id_token_signing_alg_values_supported": ["RS256", "ES256"]}), content_type="application/json")

        @app.get("/jwks")
        def jwks() -> Response:
            return Response(json.dumps(KeySet(self.published).as_dict(private=False)),
                            content_type="application/json")

        @app.get("/authorize")
        def authorize() -> Any:
            params = {k: str(v) for k, v in request.args.items()}
            query: dict[str, str] = {"state": params.get("state", "")}
            if self.mode.get("error"):
                query.update(error=str(self.mode["error"]), error_description="refusé")
            else:
                code = secrets.token_urlsafe(16)
                self.codes[code] = params
                query["code"] = code
            if self.mode.get("callback_iss"):
                query["iss"] = str(self.mode["callback_iss"])
            if self.mode.get("state"):
                query["state"] = str(self.mode["state"])
            return redirect(f"{params['redirect_uri']}?{urlencode(query)}", 302)

        @app.post("/token")
        def token() -> Response:
            code = request.form.get("code", "")
            params = self.codes.pop(code, None)
            client_id = request.authorization.username if request.authorization else request.form.get("client_id")
            secret = request.authorization.password if request.authorization else request.form.get("client_secret")
            verifier = request.form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if (params is None or client_id != params["client_id"] or secret != CLIENT_SECRET
                    or challenge != params.get("code_challenge")
                    or params.get("code_challenge_method") != "S256"):
                return Response(json.dumps({"error": "invalid_grant"}), 400, content_type="application/json")
            access = secrets.token_urlsafe(16)
            self.access[access] = str(client_id)
            body = {"access_token": access, "token_type": "Bearer",
                    "expires_in": 60, "id_token": self.id_token(params)}
            return Response(json.dumps(body), content_type="application/json")

        @app.get("/userinfo")
        def userinfo() -> Response:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.access:
                return Response("", 401)
            return self.userinfo_body(self.access[token])

        @app.get("/logout")
        def logout() -> Response:
            self.logouts.append({k: str(v) for k, v in request.args.items()})
            return Response("déconnecté", content_type="text/plain; charset=utf-8")

        return app
