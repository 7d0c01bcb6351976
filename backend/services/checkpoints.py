"""Registering checkpoints and their scanning devices; the policy a gate applies."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from checkpoints.verifier import RESTRICTABLE, Policy

from ..auth import issue_credential
from ..exceptions import Forbidden, NotFound
from ..extensions import db
from ..models import Checkpoint, Role, ScanReceipt
from . import prebuilt
from .audit import Actor, in_actors_region, record


def create_checkpoint(actor: Actor, data: Mapping[str, Any], now: datetime) -> Checkpoint:
    if data["region"] != actor.region:
        raise Forbidden("Officials register checkpoints in their own region only.",
                        fields={"region": [f"must be {actor.region}"]})
    checkpoint = Checkpoint(name=data["name"], category=data["category"], region=data["region"],
                            admits=sorted(set(data["admits"])), issuers=data.get("issuers"),
                            created_by=actor.id, created_at=now)
    db.session.add(checkpoint)
    db.session.flush()
    record(actor, "checkpoint.create", f"checkpoint:{checkpoint.id}", now=now,
           detail={"name": checkpoint.name, "category": checkpoint.category,
                   "admits": checkpoint.admits})
    db.session.commit()
    return checkpoint


def get_checkpoint(actor: Actor, checkpoint_id: int) -> Checkpoint:
    return in_actors_region(Checkpoint, checkpoint_id, actor, "checkpoint")


def list_checkpoints(actor: Actor) -> list[Checkpoint]:
    return list(db.session.execute(
        select(Checkpoint).where(Checkpoint.region == actor.region).order_by(Checkpoint.id)
    ).scalars())


def checkpoints_overview(actor: Actor) -> list[dict[str, Any]]:
    """The region's checkpoints with their offline disagreements: scans a gate admitted
    offline that the server, re-checking them at upload, would have refused."""
    checkpoints = list_checkpoints(actor)
    summary: dict[int, dict[str, Any]] = {
        c.id: {"count": 0, "reasons": {}, "last_received_at": None} for c in checkpoints}
    statement = (
        select(ScanReceipt.checkpoint_id, ScanReceipt.disagreement, func.count(),
               func.max(ScanReceipt.received_at))
        .where(prebuilt.member(ScanReceipt.checkpoint_id, prebuilt.on_postgresql()),
               ScanReceipt.disagreement.is_not(None))
        .group_by(ScanReceipt.checkpoint_id, ScanReceipt.disagreement))
    for ids in prebuilt.chunks(list(summary)):
        for checkpoint_id, reason, count, last in db.session.execute(statement, {"ids": ids}):
            entry = summary[checkpoint_id]
            entry["count"] += count
            entry["reasons"][reason] = count
            if entry["last_received_at"] is None or last > entry["last_received_at"]:
                entry["last_received_at"] = last
    for entry in summary.values():
        if entry["last_received_at"] is not None:
            entry["last_received_at"] = entry["last_received_at"].isoformat()
    return [{"id": c.id, "name": c.name, "category": c.category, "region": c.region,
             "admits": c.admits, "issuers": c.issuers, "disagreements": summary[c.id]}
            for c in checkpoints]


def add_device(actor: Actor, checkpoint_id: int, name: str | None, now: datetime
               ) -> tuple[int, str]:
    checkpoint = get_checkpoint(actor, checkpoint_id)
    cred, secret = issue_credential(Role.CHECKPOINT_DEVICE, region=checkpoint.region,
                                    name=name or f"device of {checkpoint.name}",
                                    checkpoint_id=checkpoint.id)
    db.session.flush()
    record(actor, "checkpoint.device", f"checkpoint:{checkpoint.id}/device:{cred.id}", now=now)
    db.session.commit()
    return cred.id, secret


def policy_of(checkpoint: Checkpoint, max_lifetime_seconds: int | None = None) -> Policy:
    """A travel gate (air, rail, hotel) admits only passes whose ``scp`` is its category."""
    return Policy(
        admits=frozenset(checkpoint.admits),
        category=checkpoint.category,
        issuers=frozenset(checkpoint.issuers) if checkpoint.issuers is not None else None,
        required_scope=checkpoint.category if checkpoint.category in RESTRICTABLE else None,
        max_lifetime_seconds=max_lifetime_seconds,
    )


class PolicyCache:
    """Checkpoint policies kept in memory for a few seconds: the scan path reads no table."""

    def __init__(self, ttl_seconds: float = 30.0,
                 max_lifetime_seconds: int | None = None) -> None:
        self.ttl = ttl_seconds
        self.max_lifetime_seconds = max_lifetime_seconds
        self._entries: dict[int, tuple[float, Policy, str]] = {}

    def get(self, checkpoint_id: int) -> tuple[Policy, str]:
        hit = self._entries.get(checkpoint_id)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        checkpoint = db.session.get(Checkpoint, checkpoint_id)
        if checkpoint is None:
            raise NotFound("This device's checkpoint no longer exists.")
        policy = policy_of(checkpoint, self.max_lifetime_seconds)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[checkpoint_id] = (now + self.ttl, policy, checkpoint.region)
        return policy, checkpoint.region
