"""Tokens and principals: EdDSA (Ed25519) JWTs, a JWKS endpoint, per-portal roles.

The content service owns accounts and signs tokens with `TokenIssuer`; every service checks
them itself with `TokenVerifier`, from a key set it was given (embedded mode: the local key
file) or fetched from a JWKS URL (distributed mode), refetched when an unknown `kid` shows
up so key rotation needs no restart.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from services.common.errors import Unauthorized
from services.common.i18n import Msg

ALGORITHM = "EdDSA"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=14)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (roles per portal) or an integrator's API key."""

    subject: str
    username: str
    roles: dict[str, str] = field(default_factory=dict)
    is_superadmin: bool = False
    kind: str = "user"
    scopes: frozenset[str] = frozenset()
    # The sign-in session (refresh-token family) the token belongs to: content refuses a
    # token whose session was revoked (sign-out, password change, deactivation, reuse).
    session_id: str | None = None
    token_id: str | None = None

    def role_in(self, portal: str) -> str | None:
        return self.roles.get(portal)


class InvalidToken(Unauthorized):
    slug = "invalid-token"
    title = Msg("Mã truy cập không hợp lệ", "Invalid token")


_EXPIRED = Msg(
    "Mã truy cập đã hết hạn; hãy lấy mã mới qua /v1/auth/refresh.",
    "The token has expired; get a new one from /v1/auth/refresh.",
)
_BAD = Msg(
    "Mã truy cập không hợp lệ; hãy đăng nhập lại qua /v1/auth/token.",
    "The token is not valid; sign in again at /v1/auth/token.",
)


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint-style key id (stable for the same key)."""
    jwk = json.loads(OKPAlgorithm.to_jwk(public_key))
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, sort_keys=True)
    return uuid.uuid5(uuid.NAMESPACE_URL, canonical).hex[:16]


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(public_key))
    jwk.update({"kid": key_id(public_key), "alg": ALGORITHM, "use": "sig"})
    return jwk


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, generated (mode 0600) on first use."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def private_key_from_pem(pem: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the configured signing key is not an Ed25519 private key")
    return key


class TokenIssuer:
    """Signs access and refresh tokens with the current key (content service only)."""

    def __init__(self, private_key: Ed25519PrivateKey, *, issuer: str, audience: str) -> None:
        self.private_key = private_key
        self.kid = key_id(private_key.public_key())
        self.issuer = issuer
        self.audience = audience

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.private_key.public_key())]}

    def issue(
        self,
        *,
        subject: str,
        username: str,
        roles: dict[str, str],
        is_superadmin: bool,
        token_type: str = "access",
        session_id: str | None = None,
        token_id: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, int]:
        """A signed token and its lifetime in seconds (`session_id` becomes the `sid`
        claim, `token_id` the `jti`)."""
        now = now or datetime.now(UTC)
        ttl = ACCESS_TTL if token_type == "access" else REFRESH_TTL
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "name": username,
            "roles": roles,
            "sa": is_superadmin,
            "typ": token_type,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": token_id or uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = session_id
        token = jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
        return token, int(ttl.total_seconds())


class TokenVerifier:
    """Checks tokens against a key set, refreshing it from `jwks_url` on an unknown kid."""

    REFETCH_INTERVAL = 30.0

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        keys: dict[str, Any] | None = None,
        jwks_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        key_file: Path | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self.key_file = key_file
        self.http = http
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        if keys:
            self._load(keys)

    def _load_key_file(self, path: Path) -> None:
        if not path.exists():
            return
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(private, Ed25519PrivateKey):
            self._load({"keys": [public_jwk(private.public_key())]})

    def _load(self, jwks: dict[str, Any]) -> None:
        self._keys = {
            str(k["kid"]): OKPAlgorithm.from_jwk(json.dumps(k))
            for k in jwks.get("keys", [])
            if k.get("kty") == "OKP" and "kid" in k
        }

    async def _refetch(self) -> None:
        if self.key_file is not None:
            # Embedded mode: the content service may create its key after this service
            # started, or rotate it; the file is local, so reading it again is cheap.
            self._load_key_file(self.key_file)
            return
        if not self.jwks_url or time.monotonic() - self._fetched_at < self.REFETCH_INTERVAL:
            return
        self._fetched_at = time.monotonic()
        client = self.http or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(self.jwks_url)
            response.raise_for_status()
            self._load(response.json())
        except (httpx.HTTPError, ValueError):
            return
        finally:
            if self.http is None:
                await client.aclose()

    async def verify(self, token: str, *, token_type: str = "access") -> Principal:
        """The principal a valid token names; 401 for anything else."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(_BAD) from exc
        kid = str(header.get("kid", ""))
        if kid not in self._keys:
            await self._refetch()
        key = self._keys.get(kid)
        if key is None or header.get("alg") != ALGORITHM:
            raise InvalidToken(_BAD)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken(_EXPIRED) from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(_BAD) from exc
        if claims.get("typ") != token_type:
            raise InvalidToken(_BAD)
        roles = claims.get("roles") or {}
        if not isinstance(roles, dict):
            raise InvalidToken(_BAD)
        sid, jti = claims.get("sid"), claims.get("jti")
        return Principal(
            subject=str(claims["sub"]),
            username=str(claims.get("name", "")),
            roles={str(k): str(v) for k, v in roles.items()},
            is_superadmin=bool(claims.get("sa", False)),
            session_id=str(sid) if sid is not None else None,
            token_id=str(jti) if jti is not None else None,
        )


def verifier_for(
    *,
    issuer: str,
    audience: str,
    jwks_url: str | None,
    keys_dir: Path,
    http: httpx.AsyncClient | None = None,
) -> TokenVerifier:
    """How a service that does not sign tokens checks them.

    Distributed: the content service's JWKS URL (fetched on first use and on unknown
    key ids). Embedded: the public half of the signing key in the shared data dir. With
    neither, every token is refused as invalid (anonymous reads still work).
    """
    verifier = TokenVerifier(
        issuer=issuer,
        audience=audience,
        jwks_url=jwks_url,
        http=http,
        key_file=None if jwks_url else keys_dir / "signing.pem",
    )
    if verifier.key_file is not None:
        verifier._load_key_file(verifier.key_file)
    return verifier
