"""Issuing a citizen's signed code token and keeping it just long enough to draw its QR."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError

from ..exceptions import NotFound
from ..identity import mask_name
from ..keys import KeyRing
from ..models import Citizen, CodeState
from ..tokens import SignedToken, sign_code_token

TOKEN_KEY = "hc:tok:{subject}:{jti}"  # noqa: S105 (a Redis key pattern)


def issue_code_token(
    citizen: Citizen,
    state: CodeState,
    *,
    keyring: KeyRing,
    issuer: str,
    lifetime_seconds: int,
    now: datetime,
    redis,
    scope: str | None = None,
    on_degraded: Callable[[Exception], None] | None = None,
) -> SignedToken:
    """Sign ``state``; ``now`` must be taken *before* ``state`` was read.

    Online scans refuse a token whose iat precedes the last published change of
    the code, so stamping the read time errs on the side of refusing.
    """
    signed = sign_code_token(
        key=keyring.active(),
        issuer=issuer,
        subject=citizen.subject,
        color=state.color,
        display_name=mask_name(citizen.name),
        now=now,
        lifetime_seconds=lifetime_seconds,
        scope=scope,
    )
    try:
        redis.set(
            TOKEN_KEY.format(subject=citizen.subject, jti=signed.jti),
            signed.token,
            exat=int(signed.expires_at.timestamp()),
        )
    except RedisError as exc:
        # The token is valid without it; only its server-drawn QR image is unavailable.
        if on_degraded is not None:
            on_degraded(exc)
    return signed


def stored_token(citizen: Citizen, jti: str, redis) -> str:
    """The holder's own unexpired token ``jti``; 404 once it has expired."""
    token = redis.get(TOKEN_KEY.format(subject=citizen.subject, jti=jti))
    if token is None:
        raise NotFound("No live token with this id; tokens expire after a few minutes.")
    return token
