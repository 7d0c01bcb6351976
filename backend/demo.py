"""Demo data for the embedded default: one region, its operators and a few citizens."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from .auth import issue_credential
from .extensions import db
from .identity import with_check_digit
from .models import Role
from .services import context
from .services.audit import Actor
from .services.citizens import submit_questionnaire
from .services.gov import import_records, set_area_risk
from .services.verification import confirm_code, enrol, issue_counter_code

REGION = "demo-city"
PEOPLE = [
    ("王小明", "11010519900307123", "13800000001"),
    ("李华", "11010519851122456", "13800000002"),
    ("Alice Smith", "31011519920214789", "13800000003"),
]
# On the government identity records but not registered: register as one of them and
# verify by SMS; the code lands in the outbox (``flask --app wsgi outbox``).
UNREGISTERED = [
    ("赵敏", "11010519950815321", "13800000004"),
    ("Bob Lee", "31011519880630654", "13800000005"),
]


def seed(now: datetime) -> dict[str, str]:
    """Create the demo world and return the bearer secrets by who holds them."""
    from .api.gov import ROW_SCHEMA

    cache = current_app.extensions["ruleset_cache"]
    keys = context.identity_keys()
    creds: dict[str, str] = {}
    holders = {}
    for role, name in ((Role.ADMIN, "Demo admin"), (Role.OFFICIAL, "Demo official"),
                       (Role.DATA_PROVIDER, "Demo CDC feed"),
                       (Role.CREDIT_AUTHORITY, "Demo court"),
                       (Role.REGISTRAR, "Demo service counter")):
        holders[role], creds[role.value] = issue_credential(role, region=REGION, name=name)
    registry, creds["population registry"] = issue_credential(
        Role.DATA_PROVIDER, region=REGION, name="Demo population registry",
        record_kinds=["identity"])
    db.session.commit()
    provider = Actor(id=holders[Role.DATA_PROVIDER].id, name="Demo CDC feed",
                     role=Role.DATA_PROVIDER.value, region=REGION)

    notifier = context.notifier()
    registrar = holders[Role.REGISTRAR]
    counter = Actor(registrar.id, registrar.name, Role.REGISTRAR.value, REGION)
    identity = [
        {"kind": "identity", "id_number": with_check_digit(first17),
         "occurred_at": (now - timedelta(days=400)).isoformat(), "source": "demo-police",
         "ref": f"ID-{n:04d}", "detail": {"phone": phone}}
        for n, (_, first17, phone) in enumerate(PEOPLE + UNREGISTERED, start=1)
    ]
    import_records(identity, row_schema=ROW_SCHEMA, keys=keys,
                   actor=Actor(registry.id, registry.name, Role.DATA_PROVIDER.value, REGION),
                   record_kinds=registry.record_kinds, now=now, clock_skew_seconds=300,
                   ruleset_cache=cache)

    ids = []
    for name, first17, phone in PEOPLE:
        id_number = with_check_digit(first17)
        ids.append(id_number)
        enrolment, credential, secret = enrol(
            {"name": name, "id_number": id_number, "phone": phone, "region": REGION},
            keys, now, notifier,
        )
        code, _ = issue_counter_code(counter, enrolment.id, id_number, keys, now)
        bound = confirm_code(enrolment, credential.id, code, keys, now, cache, notifier)
        creds[f"citizen {name}"] = secret
        submit_questionnaire(
            bound.citizen, {"temperature_c": 36.6, "symptoms": [], "travel": []}, now,
            max_age_days=14, clock_skew_seconds=300, ruleset_cache=cache,
        )
    for name, first17, phone in UNREGISTERED:
        creds[f"not yet registered: {name}"] = (
            f"ID number {with_check_digit(first17)}, phone {phone}")

    set_area_risk(
        "demo-harbour", {"risk_level": "medium", "since": now - timedelta(days=3),
                         "region": REGION},
        actor=provider, now=now, ruleset_cache=cache,
    )
    import_records(
        [{"kind": "close_contact", "id_number": ids[1],
          "occurred_at": (now - timedelta(days=2)).isoformat(),
          "source": "demo-cdc", "ref": "CC-0001"}],
        row_schema=ROW_SCHEMA, keys=keys, actor=provider, record_kinds=None, now=now,
        clock_skew_seconds=300, ruleset_cache=cache,
    )
    return creds
