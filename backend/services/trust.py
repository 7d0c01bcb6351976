"""Trusted issuers: their JWKS fetched over HTTP, cached, and combined with our own keys.

A fetch honours ``Cache-Control: max-age`` and ``ETag``, gives up after a bounded
timeout, and on failure keeps the last good copy (recording the error). Scans
use the cached copies only, never the network; ``flask refresh-trust`` (or the
refresh route) brings them up to date, so a key its issuer withdrew stops
verifying at the next refresh. Other issuers' codes are not checked for code
changes online: their short lifetime bounds how stale they can be.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from checkpoints.verifier import KeySet

from ..exceptions import NotFound, ValidationFailed
from ..extensions import db
from ..models.trust import TrustedIssuer
from .audit import Actor, record
from .scans import LocalKeys

DEFAULT_MAX_AGE = 300
MAX_JWKS_BYTES = 256 * 1024


@dataclass(frozen=True)
class Fetched:
    jwks: dict | None  # None: not modified
    etag: str | None
    max_age: int


def fetch_jwks(url: str, *, etag: str | None, timeout: float) -> Fetched:
    if not url.startswith(("https://", "http://")):
        raise ValueError("a JWKS URL must be http(s)")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    if etag:
        request.add_header("If-None-Match", etag)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(MAX_JWKS_BYTES + 1)
            headers = response.headers
    except urllib.error.HTTPError as err:
        if err.code == 304:
            return Fetched(None, etag, _max_age(err.headers.get("Cache-Control")))
        raise
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError("JWKS larger than 256 KiB")
    jwks = json.loads(body)
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWKS document (no 'keys' list)")
    return Fetched(jwks, headers.get("ETag"), _max_age(headers.get("Cache-Control")))


def _max_age(cache_control: str | None) -> int:
    match = re.search(r"max-age=(\d+)", cache_control or "")
    return min(int(match.group(1)), 86_400) if match else DEFAULT_MAX_AGE


def refresh(issuer: TrustedIssuer, now: datetime, timeout: float) -> bool:
    """Fetch the issuer's JWKS now; keeps the last good copy on failure. True when fetched."""
    try:
        fetched = fetch_jwks(issuer.jwks_url, etag=issuer.etag, timeout=timeout)
    except (OSError, ValueError) as exc:  # URLError, timeouts and bad documents
        issuer.last_error = f"{type(exc).__name__}: {exc}"[:500]
        return False
    if fetched.jwks is not None:
        issuer.jwks, issuer.etag = fetched.jwks, fetched.etag
    issuer.fetched_at = now
    issuer.fresh_until = now + timedelta(seconds=fetched.max_age)
    issuer.last_error = None
    return True


def put_issuer(actor: Actor, issuer_id: str, data: Mapping[str, Any], *, local_issuer: str,
               now: datetime, timeout: float) -> TrustedIssuer:
    if issuer_id == local_issuer:
        raise ValidationFailed("This deployment trusts itself already.",
                               fields={"issuer_id": ["is this deployment's own issuer"]})
    issuer = db.session.get(TrustedIssuer, issuer_id) or TrustedIssuer(issuer_id=issuer_id)
    if issuer.jwks_url != data["jwks_url"]:
        issuer.jwks, issuer.etag = None, None  # a new address: nothing cached applies
    issuer.name, issuer.jwks_url = data["name"], data["jwks_url"]
    issuer.pinned_keys = data.get("pinned_keys")
    issuer.updated_at = now
    db.session.add(issuer)
    refresh(issuer, now, timeout)
    record(actor, "trust.put", f"issuer:{issuer_id}", now=now,
           detail={"name": issuer.name, "jwks_url": issuer.jwks_url,
                   "fetched": issuer.last_error is None})
    db.session.commit()
    return issuer


def delete_issuer(actor: Actor, issuer_id: str, now: datetime) -> None:
    issuer = db.session.get(TrustedIssuer, issuer_id)
    if issuer is None:
        raise NotFound("This issuer is not on the trust list.")
    db.session.delete(issuer)
    record(actor, "trust.delete", f"issuer:{issuer_id}", now=now)
    db.session.commit()


def refresh_all(now: datetime, timeout: float, only: str | None = None,
                stale_only: bool = False) -> dict[str, str]:
    """Refresh trusted JWKS copies; with ``stale_only``, only those past their max-age."""
    query = select(TrustedIssuer)
    if only:
        query = query.where(TrustedIssuer.issuer_id == only)
    outcome = {}
    for issuer in db.session.execute(query).scalars():
        if stale_only and issuer.fresh_until is not None and issuer.fresh_until > now:
            outcome[issuer.issuer_id] = f"fresh until {issuer.fresh_until.isoformat()}"
            continue
        ok = refresh(issuer, now, timeout)
        outcome[issuer.issuer_id] = "ok" if ok else f"kept last good copy ({issuer.last_error})"
    db.session.commit()
    return outcome


def list_issuers() -> list[TrustedIssuer]:
    return list(db.session.execute(
        select(TrustedIssuer).order_by(TrustedIssuer.issuer_id)).scalars())


def _issuer_keys(issuer: TrustedIssuer) -> list[dict]:
    keys = list((issuer.jwks or {}).get("keys", []))
    seen = {k.get("kid") for k in keys if isinstance(k, dict)}
    keys += [k for k in issuer.pinned_keys or [] if k.get("kid") not in seen]
    return [k for k in keys if isinstance(k, dict)]


class TrustedKeys:
    """Our own keys plus every trusted issuer's, rebuilt every few seconds at most.

    Changes made through this process take effect at once (``invalidate``);
    other workers see them within ``ttl`` seconds.
    """

    def __init__(self, local: LocalKeys, ttl_seconds: float = 10.0) -> None:
        self.local, self.ttl = local, ttl_seconds
        self._expires = 0.0
        self._foreign: dict[str, dict] = {}
        self._foreign_keys = KeySet()
        self._merged: tuple[KeySet, KeySet] | None = None  # (local it was built from, merged)

    def invalidate(self) -> None:
        self._expires = 0.0

    def foreign_jwks(self) -> dict[str, dict]:
        if time.monotonic() >= self._expires:
            foreign = {i.issuer_id: {"keys": _issuer_keys(i)} for i in list_issuers()}
            if foreign != self._foreign:
                self._foreign, self._merged = foreign, None
                self._foreign_keys = KeySet.from_jwks(foreign)
            self._expires = time.monotonic() + self.ttl
        return self._foreign

    def jwks_by_issuer(self, now: datetime) -> dict[str, dict]:
        return {self.local.issuer: self.local.keyring.jwks(now), **self.foreign_jwks()}

    def keyset(self, now: datetime) -> KeySet:
        """Every key a scan may accept; rebuilt only when ours or a trusted issuer's change."""
        local = self.local.keyset(now)
        self.foreign_jwks()
        if self._merged is None or self._merged[0] is not local:
            self._merged = (local, local.merged(self._foreign_keys))
        return self._merged[1]
