"""Bearer authentication and role checks.

Secrets are ``hc_`` + 43 random URL-safe characters, shown once and stored as
SHA-256. ``@requires(Role.X, ...)`` authenticates the request, checks the role
and leaves the caller on ``g.principal``.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy import Select, bindparam, select

from .exceptions import Forbidden, Unauthorized
from .extensions import db
from .limits import count_failed_authentication
from .models import Citizen, CodeState, Credential, Role

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    credential_id: int
    role: Role
    region: str | None
    citizen_id: int | None
    name: str | None
    checkpoint_id: int | None = None
    enrolment_id: int | None = None
    record_kinds: tuple[str, ...] | None = None

    @property
    def unverified(self) -> bool:
        """A citizen's credential whose registration is not yet bound to a person."""
        return self.role is Role.CITIZEN and self.citizen_id is None


def new_secret() -> str:
    return "hc_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def issue_credential(
    role: Role,
    *,
    region: str | None = None,
    name: str | None = None,
    citizen_id: int | None = None,
    checkpoint_id: int | None = None,
    enrolment_id: int | None = None,
    record_kinds: list[str] | None = None,
) -> tuple[Credential, str]:
    """Create a credential in the current session; returns it and its one-time secret."""
    secret = new_secret()
    cred = Credential(
        role=role.value, region=region, name=name, citizen_id=citizen_id,
        checkpoint_id=checkpoint_id, enrolment_id=enrolment_id, record_kinds=record_kinds,
        secret_hash=hash_secret(secret),
    )
    db.session.add(cred)
    return cred, secret


class DeviceCredentialCache:
    """Scanning devices' credentials, kept in memory for ``ttl`` seconds.

    The scan path then reads no table; the price is that revoking a device takes
    effect within ``ttl`` seconds rather than at once.
    """

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, secret_hash: str) -> Principal | None:
        hit = self._entries.get(secret_hash)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def put(self, secret_hash: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[secret_hash] = (time.monotonic() + self.ttl, principal)


@functools.cache
def _caller_query() -> Select:
    """Built once: building and cache-keying the statement cost more than running it."""
    return (
        select(Credential, Citizen, CodeState)
        .outerjoin(Citizen, Citizen.id == Credential.citizen_id)
        .outerjoin(CodeState, CodeState.citizen_id == Credential.citizen_id)
        .where(Credential.secret_hash == bindparam("secret_hash"))
    )


def authenticate(header: str | None, cache: DeviceCredentialCache | None = None) -> Principal:
    if not header or not header.startswith("Bearer "):
        raise Unauthorized("Send 'Authorization: Bearer <secret>'.", code="unauthorized")
    secret = header[len("Bearer ") :].strip()
    if not secret or len(secret) > 200:
        raise Unauthorized("Unknown or revoked credential.")
    secret_hash = hash_secret(secret)
    if cache is not None and (cached := cache.get(secret_hash)) is not None:
        return cached
    # A citizen's own row comes along, kept on ``g`` for api.common.me, and so does their
    # stored code, which lands in the session: the code read or token refresh that most
    # citizen requests are then finds it there. One query, not three.
    found = db.session.execute(_caller_query(), {"secret_hash": secret_hash}).one_or_none()
    cred = found[0] if found is not None else None
    if cred is None or cred.revoked_at is not None:
        raise Unauthorized("Unknown or revoked credential.")
    # The session holds loaded objects weakly: these references keep them in it.
    g.caller_citizen, g.caller_code_state = found[1], found[2]
    principal = Principal(cred.id, Role(cred.role), cred.region, cred.citizen_id, cred.name,
                          cred.checkpoint_id, cred.enrolment_id,
                          tuple(cred.record_kinds) if cred.record_kinds is not None else None)
    if cache is not None and principal.role is Role.CHECKPOINT_DEVICE:
        cache.put(secret_hash, principal)
    return principal


def requires(*roles: Role, unverified: bool = False) -> Callable[[F], F]:
    """Only callers holding one of ``roles`` get through; others get 401 or 403.

    A citizen whose registration is not verified gets 403 ``unverified`` everywhere
    but the few views marked ``unverified=True`` (the ones that verify): identity
    before data.
    """
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                principal = authenticate(request.headers.get("Authorization"),
                                         current_app.extensions.get("device_cache"))
            except Unauthorized:
                count_failed_authentication()
                raise
            if principal.role not in allowed:
                raise Forbidden(
                    f"This needs the role {' or '.join(sorted(r.value for r in allowed))}."
                )
            if principal.unverified and not unverified:
                raise Forbidden("Verify your identity first: a one-time code by SMS to the "
                                "phone the government holds for your ID number, or in "
                                "person at a service counter.", code="unverified")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper._required_roles = allowed  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def current_principal() -> Principal:
    return g.principal
