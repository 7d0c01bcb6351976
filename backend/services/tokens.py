"""Issuing a citizen's signed code token and keeping it just long enough to draw its QR."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError

from ..exceptions import NotFound
from ..identity import mask_name
from ..keys import KeyRing
from ..models import Citizen, CodeState
from ..pseudonyms import TokenPseudonyms, iat_ms
from ..tokens import SignedToken, iat_claim, new_jti, sign_code_token, token_times
from . import token_status

TOKEN_KEY = "hc:tok:{subject}:{jti}"  # noqa: S105 (a Redis key pattern)


def issue_code_token(
    citizen: Citizen,
    read_state: Callable[[], CodeState],
    *,
    keyring: KeyRing,
    pseudonyms: TokenPseudonyms,
    issuer: str,
    lifetime_seconds: int,
    now: datetime,
    redis,
    scope: str | None = None,
    on_degraded: Callable[[Exception], None] | None = None,
    on_unregistered: Callable[[Exception], None] | None = None,
) -> SignedToken:
    """Sign the code ``read_state()`` returns, under a ``sub`` made for this token alone.

    ``now`` is taken before the code is read: online scans refuse a token whose iat
    precedes the last published change of the code, so this errs on the side of
    refusing. For the same reason the token is registered as live (for the offline
    status lists, see ``token_status``) before ``read_state`` runs; ``read_state`` may
    raise (a refused pass), and the registration then names a token nobody holds.
    """
    issued, expires = token_times(now, lifetime_seconds)
    jti, issued_ms = new_jti(), iat_ms(iat_claim(issued))
    subject = pseudonyms.new(citizen.subject, jti=jti, issued_ms=issued_ms)
    pipe = redis.pipeline(transaction=False)
    token_status.register(pipe, citizen.subject, subject, scope,
                          iat_ms=issued_ms, exp_ms=int(expires.timestamp()) * 1000)
    try:
        pipe.execute()
    except RedisError as exc:
        # The token still works online; offline gates will not hear if it goes void,
        # so once Redis is back they are told to distrust tokens issued before.
        if on_unregistered is not None:
            on_unregistered(exc)
    state = read_state()
    signed = sign_code_token(
        key=keyring.active(),
        issuer=issuer,
        subject=subject,
        color=state.color,
        display_name=mask_name(citizen.name),
        now=now,
        lifetime_seconds=lifetime_seconds,
        scope=scope,
        jti=jti,
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
