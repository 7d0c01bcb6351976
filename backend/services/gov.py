"""Importing government records and area risk levels from data providers.

A batch is all-or-nothing for its valid rows: invalid rows are reported by
index and not stored, duplicates (same ``source`` and ``ref`` with the same
content) are counted and skipped, and the codes of every registered person the
batch touches are recomputed in the same transaction. The answer never says how
many of them were registered: that would tell a provider who is. Each batch and
each area change is audited with counts, never an ID number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from marshmallow import Schema, ValidationError
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..identity import IdentityKeys
from ..models import AreaRiskLevel, Citizen, GovRecord, QuestionnaireTravel
from . import prebuilt
from .audit import Actor, record
from .codes import citizens_by_id_hashes, recompute_codes
from .facts import IDENTITY_KIND, LOOKBACK


@dataclass
class ImportResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _rejection(index: int, fields: Mapping[str, Any], message: str | None = None) -> dict:
    text = message or "; ".join(
        f"{name}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
        for name, msgs in fields.items()
    )
    return {"index": index, "error": text, "fields": dict(fields)}


def _comparable(detail: Mapping[str, Any] | None) -> dict:
    return dict(detail or {})


def may_import(kind: str, record_kinds: Sequence[str] | None) -> bool:
    """Identity records say which phone a person's codes go to: only a provider named for
    them (``create-user --record-kinds identity``) may send them."""
    if record_kinds is None:
        return kind != IDENTITY_KIND
    return kind in record_kinds


def import_records(
    rows: Sequence[Any],
    *,
    row_schema: Schema,
    keys: IdentityKeys,
    actor: Actor,
    record_kinds: Sequence[str] | None,
    now: datetime,
    clock_skew_seconds: int,
    ruleset_cache: dict,
) -> ImportResult:
    """Store a batch; ``record_kinds`` are the kinds this provider may send (None: every
    kind but ``identity``)."""
    result = ImportResult()
    valid: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(rows):
        try:
            row = row_schema.load(raw)
        except ValidationError as err:
            messages = err.messages if isinstance(err.messages, dict) else {"_row": err.messages}
            result.rejected.append(_rejection(index, messages))
            continue
        if not may_import(row["kind"], record_kinds):
            problem = {"kind": [f"this credential may not import {row['kind']} records"]}
            result.rejected.append(_rejection(index, problem))
            continue
        if row["occurred_at"] > now + timedelta(seconds=clock_skew_seconds):
            problem = {"occurred_at": ["must not be in the future"]}
            result.rejected.append(_rejection(index, problem))
            continue
        valid.append((index, row))

    for attempt in range(2):
        try:
            inserted, hashes = _insert_new(valid, result, keys, actor.id, now)
            touched = citizens_by_id_hashes(hashes)
            recompute_codes(touched, now, ruleset_cache)
            _audit_import(actor, result, inserted, valid, now)
            db.session.commit()
        except IntegrityError:
            # A concurrent import stored some of the same (source, ref): start again.
            db.session.rollback()
            if attempt:
                raise
            result.duplicates, result.rejected = 0, [
                r for r in result.rejected if r.get("code") != "conflict"
            ]
            continue
        result.accepted = inserted
        break
    result.rejected.sort(key=lambda r: r["index"])
    return result


def _audit_import(actor: Actor, result: ImportResult, inserted: int,
                  valid: list[tuple[int, dict[str, Any]]], now: datetime) -> None:
    """Who imported how many of which kind, from which sources: counts only."""
    kinds: dict[str, int] = {}
    for _, row in valid:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    record(actor, "gov.import", f"provider:{actor.id}", now=now, detail={
        "accepted": inserted, "duplicates": result.duplicates,
        "rejected": len(result.rejected), "kinds": dict(sorted(kinds.items())),
        "sources": sorted({row["source"] for _, row in valid})})


def _insert_new(
    valid: list[tuple[int, dict[str, Any]]],
    result: ImportResult,
    keys: IdentityKeys,
    provider_id: int | None,
    now: datetime,
) -> tuple[int, list[str]]:
    existing: dict[tuple[str, str], GovRecord] = {}
    pairs = [(row["source"], row["ref"]) for _, row in valid]
    wanted = set(pairs)
    # member takes one column: each column is one of its list (the unique index on
    # (source, ref) serves both), and the pairs are sorted out here. A batch names a
    # source or two, so little else comes back.
    postgresql = prebuilt.on_postgresql()
    statement = select(GovRecord).where(
        prebuilt.member(GovRecord.source, postgresql, String, "sources"),
        prebuilt.member(GovRecord.ref, postgresql, String, "refs"))
    for chunk in prebuilt.chunks(pairs):
        found = db.session.execute(statement, {"sources": sorted({s for s, _ in chunk}),
                                               "refs": sorted({r for _, r in chunk})})
        for rec in found.scalars():
            if (rec.source, rec.ref) in wanted:
                existing[(rec.source, rec.ref)] = rec
    seen: dict[tuple[str, str], tuple[str, str, datetime, dict]] = {}
    new_records: list[GovRecord] = []
    hashes: list[str] = []
    for index, row in valid:
        key = (row["source"], row["ref"])
        id_hash = keys.id_hash(row["id_number"])
        if row["kind"] == IDENTITY_KIND:  # the phone is kept only as a keyed hash
            row["detail"] = {"phone_hash": keys.phone_hash(row["detail"]["phone"])}
        content = (row["kind"], id_hash, row["occurred_at"], _comparable(row.get("detail")))
        old = existing.get(key)
        if old is not None:
            same = (old.kind, old.id_hash, old.occurred_at, _comparable(old.detail)) == content
        elif key in seen:
            same = seen[key] == content
        else:
            seen[key] = content
            new_records.append(
                GovRecord(
                    kind=row["kind"], id_hash=id_hash, occurred_at=row["occurred_at"],
                    source=row["source"], ref=row["ref"], detail=row.get("detail") or {},
                    received_at=now, provider_id=provider_id,
                )
            )
            hashes.append(id_hash)
            continue
        if same:
            result.duplicates += 1
        else:
            rejection = _rejection(
                index, {"ref": ["this (source, ref) was already used for a different record"]}
            )
            rejection["code"] = "conflict"
            result.rejected.append(rejection)
    db.session.add_all(new_records)
    db.session.flush()
    return len(new_records), hashes


def set_area_risk(
    area_code: str,
    data: Mapping[str, Any],
    *,
    actor: Actor,
    now: datetime,
    ruleset_cache: dict,
) -> tuple[AreaRiskLevel, int]:
    """Record an area's new risk level and recompute everyone who reported a stay there."""
    level = AreaRiskLevel(
        area_code=area_code, region=data["region"], risk_level=data["risk_level"],
        since=data["since"], set_at=now, set_by=actor.id,
    )
    db.session.add(level)
    db.session.flush()
    travellers = db.session.execute(
        select(Citizen).where(
            Citizen.id.in_(
                select(QuestionnaireTravel.citizen_id).where(
                    QuestionnaireTravel.area_code == area_code,
                    QuestionnaireTravel.left_at >= now - LOOKBACK,
                )
            )
        )
    ).scalars().all()
    recompute_codes(travellers, now, ruleset_cache)
    # On the area's region's log, where its officials see what changed their people's codes.
    record(actor, "area.set", f"area:{area_code}", now=now, region=data["region"], detail={
        "risk_level": data["risk_level"], "since": data["since"].isoformat(),
        "recomputed": len(travellers)})
    db.session.commit()
    return level, len(travellers)
