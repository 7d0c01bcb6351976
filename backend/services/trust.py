"""Trusted issuers: their JWKS fetched over HTTP, checked, cached, and combined with our keys.

A fetch goes through ``backend.outbound`` (https, public addresses only, one
deadline, bounded body), honours ``Cache-Control: max-age`` and ``ETag``, and on
failure keeps the last good copy, recording only a category of error. A fetched
key set is read strictly (``checkpoints.jwks``): its unusable keys are dropped
with their reasons, so a bad key costs its issuer that key and nothing else.
Scans use the cached copies only, never the network; ``flask refresh-trust`` (or
the refresh route) brings them up to date, so a key its issuer withdrew stops
verifying at the next refresh; every refresh is audited. Other issuers' codes
are not checked for code changes online: their short lifetime bounds how stale
they can be.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from checkpoints.jwks import validate_jwks
from checkpoints.verifier import KeySet

from .. import outbound
from ..exceptions import NotFound, ValidationFailed
from ..extensions import db
from ..models.trust import TrustedIssuer
from ..outbound import OutboundError, OutboundPolicy
from .audit import Actor, record
from .scans import LocalKeys

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300
COULD_NOT_FETCH = "could not fetch the key set"
INVALID = "invalid key set"
# What an admin is told about a failed fetch: a category, never the operating
# system's words (they would tell a closed port from an open one).
_ERRORS = {
    outbound.NOT_HTTPS: "not https",
    outbound.BAD_URL: COULD_NOT_FETCH,
    outbound.REFUSED_ADDRESS: "refused address",
    outbound.TIMED_OUT: "timed out",
    outbound.REDIRECTED: "redirect not followed",
    outbound.TOO_LARGE: f"{INVALID} (larger than 256 KiB)",
    outbound.UNREACHABLE: COULD_NOT_FETCH,
}
_ETAG = re.compile(r"[ -~]{1,200}")  # stored (200 characters) and sent back as a header


class FetchFailed(Exception):
    """A fetch that gave no key set; ``message`` is one of the categories above."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Fetched:
    jwks: dict | None  # the usable keys; None: not modified
    etag: str | None
    max_age: int
    dropped: list[dict] = field(default_factory=list)


def fetch_jwks(url: str, *, etag: str | None, policy: OutboundPolicy) -> Fetched:
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    try:
        answer = outbound.get(url, policy, headers)
    except OutboundError as exc:
        raise FetchFailed(_ERRORS.get(exc.kind, COULD_NOT_FETCH)) from exc
    max_age = _max_age(answer.headers.get("Cache-Control"))
    if answer.status == 304 and etag:
        return Fetched(None, etag, max_age)
    if answer.status != 200:
        raise FetchFailed(COULD_NOT_FETCH)
    try:
        document = json.loads(answer.body)
    except (ValueError, RecursionError):
        raise FetchFailed(f"{INVALID} (not JSON)") from None
    good, dropped = validate_jwks(document)
    if dropped and dropped[0]["index"] is None:
        raise FetchFailed(f"{INVALID} ({dropped[0]['reason']})")
    new_etag = answer.headers.get("ETag")
    return Fetched({"keys": good}, new_etag if _ETAG.fullmatch(new_etag or "") else None,
                   max_age, dropped)


def _max_age(cache_control: str | None) -> int:
    match = re.search(r"max-age=(\d{1,9})", cache_control or "")
    return min(int(match.group(1)), 86_400) if match else DEFAULT_MAX_AGE


def refresh(issuer: TrustedIssuer, now: datetime, policy: OutboundPolicy, actor: Actor) -> bool:
    """Fetch the issuer's JWKS now (audited); keeps the last good copy on failure.

    True when fetched. The caller commits.
    """
    return _store(issuer, _attempt(issuer, policy), now, actor)


def _attempt(issuer: TrustedIssuer, policy: OutboundPolicy) -> Fetched | FetchFailed:
    """The network part, done before the audit entry is written: appending to the
    audit chain takes its lock, which must not wait for another server."""
    try:
        return fetch_jwks(issuer.jwks_url, etag=issuer.etag, policy=policy)
    except FetchFailed as exc:
        log.info("trust: JWKS of %s not fetched: %s (%r)", issuer.issuer_id, exc.message,
                 exc.__cause__)
        return exc


def _store(issuer: TrustedIssuer, fetched: Fetched | FetchFailed, now: datetime,
           actor: Actor) -> bool:
    if isinstance(fetched, FetchFailed):
        issuer.last_error = fetched.message
        _audit_refresh(actor, issuer, now, changed=False)
        return False
    if fetched.jwks is not None:
        issuer.jwks, issuer.etag = fetched.jwks, fetched.etag
        issuer.dropped_keys = fetched.dropped or None
    issuer.fetched_at = now
    issuer.fresh_until = now + timedelta(seconds=fetched.max_age)
    issuer.last_error = None
    _audit_refresh(actor, issuer, now, changed=fetched.jwks is not None)
    return True


def _audit_refresh(actor: Actor, issuer: TrustedIssuer, now: datetime, *, changed: bool) -> None:
    record(actor, "trust.refresh", f"issuer:{issuer.issuer_id}", now=now, detail={
        "fetched": issuer.last_error is None, "error": issuer.last_error,
        "new_copy": changed, "keys": [k["kid"] for k in issuer_keys(issuer)],
        "dropped": len(issuer.dropped_keys or [])})


def put_issuer(actor: Actor, issuer_id: str, data: Mapping[str, Any], *, local_issuer: str,
               now: datetime, policy: OutboundPolicy) -> TrustedIssuer:
    _check_issuer_id(issuer_id, local_issuer)
    try:
        outbound.check_url(data["jwks_url"], policy)
    except OutboundError as exc:
        raise ValidationFailed("This key set address cannot be fetched.", fields={
            "jwks_url": ["must be https" if exc.kind == outbound.NOT_HTTPS
                         else "must be an http(s) URL with a host and no user name"]}) from None
    pinned = data.get("pinned_keys")
    if pinned is not None:
        pinned, dropped = validate_jwks({"keys": pinned})
        if dropped:
            raise ValidationFailed("Some pinned keys are not usable.", fields={
                "pinned_keys": [f"key {d['index']}: {d['reason']}" if d["index"] is not None
                                else d["reason"] for d in dropped]})
    issuer = db.session.get(TrustedIssuer, issuer_id) or TrustedIssuer(issuer_id=issuer_id)
    if issuer.jwks_url != data["jwks_url"]:
        # A new address: nothing cached applies.
        issuer.jwks, issuer.etag, issuer.dropped_keys = None, None, None
    issuer.name, issuer.jwks_url = data["name"], data["jwks_url"]
    issuer.pinned_keys = pinned
    issuer.updated_at = now
    fetched = _attempt(issuer, policy)
    db.session.add(issuer)
    record(actor, "trust.put", f"issuer:{issuer_id}", now=now,
           detail={"name": issuer.name, "jwks_url": issuer.jwks_url})
    _store(issuer, fetched, now, actor)
    db.session.commit()
    return issuer


def _check_issuer_id(issuer_id: str, local_issuer: str) -> None:
    """Issuer ids are compared exactly, so ids differing only in case would be two
    issuers an admin reads as one: refuse them (ours and the other trusted ones)."""
    if issuer_id.casefold() == local_issuer.casefold():
        raise ValidationFailed("This deployment trusts itself already.",
                               fields={"issuer_id": ["is this deployment's own issuer"]})
    clash = db.session.execute(
        select(TrustedIssuer.issuer_id).where(
            func.lower(TrustedIssuer.issuer_id) == issuer_id.lower(),
            TrustedIssuer.issuer_id != issuer_id).limit(1)).scalar_one_or_none()
    if clash is not None:
        raise ValidationFailed("Another trusted issuer has this id in other letter case.",
                               fields={"issuer_id": [f"differs only in case from {clash}"]})


def delete_issuer(actor: Actor, issuer_id: str, now: datetime) -> None:
    issuer = db.session.get(TrustedIssuer, issuer_id)
    if issuer is None:
        raise NotFound("This issuer is not on the trust list.")
    db.session.delete(issuer)
    record(actor, "trust.delete", f"issuer:{issuer_id}", now=now)
    db.session.commit()


def refresh_all(now: datetime, policy: OutboundPolicy, actor: Actor, only: str | None = None,
                stale_only: bool = False) -> dict[str, str]:
    """Refresh trusted JWKS copies; with ``stale_only``, only those past their max-age."""
    query = select(TrustedIssuer)
    if only:
        query = query.where(TrustedIssuer.issuer_id == only)
    outcome = {}
    for issuer in list(db.session.execute(query).scalars()):
        if stale_only and issuer.fresh_until is not None and issuer.fresh_until > now:
            outcome[issuer.issuer_id] = f"fresh until {issuer.fresh_until.isoformat()}"
            continue
        ok = refresh(issuer, now, policy, actor)
        outcome[issuer.issuer_id] = "ok" if ok else f"kept last good copy ({issuer.last_error})"
        db.session.commit()  # before the next fetch: see _attempt
    return outcome


def list_issuers() -> list[TrustedIssuer]:
    return list(db.session.execute(
        select(TrustedIssuer).order_by(TrustedIssuer.issuer_id)).scalars())


def issuer_keys(issuer: TrustedIssuer) -> list[dict]:
    """The issuer's usable keys: its fetched copy, then pinned keys of other kids.

    Read strictly again here: a copy stored before keys were checked on arrival
    must not reach a scan or a bundle either.
    """
    fetched = validate_jwks(issuer.jwks)[0] if issuer.jwks is not None else []
    pinned = validate_jwks({"keys": issuer.pinned_keys or []})[0]
    seen = {k["kid"] for k in fetched}
    return fetched + [k for k in pinned if k["kid"] not in seen]


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
            ours = self.local.issuer.casefold()
            foreign = {i.issuer_id: {"keys": issuer_keys(i)} for i in list_issuers()
                       if i.issuer_id.casefold() != ours}  # see _check_issuer_id
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
