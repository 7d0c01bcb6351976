"""What services need from the running app, gathered in one place for views and CLI commands."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from limits import parse_many
from redis.exceptions import RedisError

from ..auth import DeviceCredentialCache
from ..health import note_degraded
from ..identity import IdentityKeys
from ..keys import KeyRing, create_file_once
from ..notifier import Notifier, build_notifier
from ..outbound import OutboundPolicy, parse_networks
from ..pseudonyms import TokenPseudonyms
from .checkpoints import PolicyCache
from .restrictions import bar_live_passes as _bar_live_passes
from .scans import LocalKeys, ScanContext
from .trust import TrustedKeys


def _pseudonym_key(app: Flask) -> bytes:
    configured = app.config.get("PSEUDONYM_KEY") or ""
    if configured:
        return configured.encode()
    path = Path(app.config["SECRET_KEY_PATH"])
    if not path.exists():
        import secrets

        create_file_once(path, secrets.token_hex(32).encode())
    return path.read_text().strip().encode()


def init_services(app: Flask) -> None:
    """Key ring and identity keys are made once per app and loaded lazily."""
    app.extensions["keyring"] = KeyRing(
        app.config["SIGNING_KEY_DIR"], app.config["TOKEN_LIFETIME_SECONDS"]
    )
    app.extensions["identity_keys"] = None
    app.extensions["token_pseudonyms"] = None
    app.extensions["ruleset_cache"] = {}
    app.extensions["device_cache"] = DeviceCredentialCache(app.config["DEVICE_AUTH_CACHE_SECONDS"])
    app.extensions["policy_cache"] = PolicyCache(app.config["POLICY_CACHE_SECONDS"],
                                                 app.config["MAX_TOKEN_LIFETIME_SECONDS"])
    app.extensions["local_keys"] = LocalKeys(app.extensions["keyring"], app.config["ISSUER_ID"])
    app.extensions["trusted_keys"] = TrustedKeys(app.extensions["local_keys"],
                                                 app.config["TRUST_CACHE_SECONDS"])
    # Built here so that a production app with nowhere to send codes refuses to start.
    app.extensions["notifier"] = build_notifier(app.config)


def keyring() -> KeyRing:
    return current_app.extensions["keyring"]


def identity_keys() -> IdentityKeys:
    keys = current_app.extensions.get("identity_keys")
    if keys is None:
        keys = IdentityKeys(_pseudonym_key(current_app))
        current_app.extensions["identity_keys"] = keys
    return keys


def notifier() -> Notifier:
    """The app's one notifier: ``context.notifier().post(Message(...))`` from a request."""
    return current_app.extensions["notifier"]


def token_pseudonyms() -> TokenPseudonyms:
    """The per-token ``sub`` maker, under a key derived from the same service secret."""
    made = current_app.extensions.get("token_pseudonyms")
    if made is None:
        made = TokenPseudonyms(_pseudonym_key(current_app))
        current_app.extensions["token_pseudonyms"] = made
    return made


def redis():
    return current_app.extensions["redis"]


def scan_context() -> ScanContext:
    """Built on first use: it registers the scan script with this app's Redis."""
    ctx = current_app.extensions.get("scan_context")
    if ctx is None:
        c = current_app.config
        app = current_app._get_current_object()
        ctx = ScanContext(
            redis=redis(),
            local_issuer=c["ISSUER_ID"],
            replay_window_seconds=c["REPLAY_WINDOW_SECONDS"],
            clock_skew_seconds=c["VERIFIER_CLOCK_SKEW_SECONDS"],
            write_stream=c["CHECKIN_SINK"] == "stream",
            status_window_seconds=c["TOKEN_LIFETIME_SECONDS"] + c["CLOCK_SKEW_SECONDS"],
            pseudonyms=token_pseudonyms(),
            on_degraded=lambda exc: note_degraded(app, "redis", exc),
            device_scans_per_minute=_per_minute(c["RATE_LIMIT_SCANS"])
            if c["RATELIMIT_ENABLED"] else 10**9,
        )
        current_app.extensions["scan_context"] = ctx
    return ctx


def trusted_keys() -> TrustedKeys:
    return current_app.extensions["trusted_keys"]


def trust_fetch() -> OutboundPolicy:
    """How trusted issuers' JWKS may be fetched (scheme, addresses, deadline)."""
    c = current_app.config
    return OutboundPolicy(timeout=c["JWKS_FETCH_TIMEOUT_SECONDS"],
                          allow_http=bool(c["TRUST_ALLOW_HTTP"]),
                          allow_networks=parse_networks(c["TRUST_FETCH_ALLOW"]))


def redis_degraded(exc: Exception) -> None:
    note_degraded(current_app, "redis", exc)


def tokens_unregistered(exc: Exception) -> None:
    """A token (or a pass to bar) could not be recorded for the offline status lists:
    once Redis answers again, offline gates are told to distrust our older tokens."""
    note_degraded(current_app, "redis", exc)
    ctx = scan_context()
    ctx.status_stale = ctx.registry_incomplete = True


def bar_live_passes(id_hash: str, categories: list[str], at) -> None:
    """After a restriction is committed: bar the holder's live passes at offline gates."""
    try:
        _bar_live_passes(id_hash, categories, at, redis())
    except RedisError as exc:
        tokens_unregistered(exc)


def _per_minute(limit: str) -> int:
    """'1200/minute' -> 1200 (the scan limit is counted per minute in the scan script),
    read with the same parser as every other limit."""
    first = parse_many(limit)[0]
    return max(1, int(first.amount * 60 / first.get_expiry()))
