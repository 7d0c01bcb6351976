"""Operator commands: ``flask --app wsgi <command>``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from .api.schemas.common import is_code
from .api.schemas.gov import RECORD_KINDS
from .auth import issue_credential
from .exceptions import ValidationFailed
from .extensions import db
from .models import Role
from .services import context

OPERATOR_ROLES = [Role.ADMIN, Role.OFFICIAL, Role.DATA_PROVIDER, Role.CREDIT_AUTHORITY,
                  Role.REGISTRAR]
# Roles that act for one region only.
REGIONAL_ROLES = (Role.OFFICIAL.value, Role.CREDIT_AUTHORITY.value, Role.REGISTRAR.value)


@click.command("create-user")
@click.option("--role", required=True, type=click.Choice([r.value for r in OPERATOR_ROLES]))
@click.option("--region", default=None, help="Region the credential is scoped to.")
@click.option("--name", default=None, help="Who holds it (shown in the audit log).")
@click.option("--record-kinds", default=None,
              help="data_provider only: the record kinds it may import, comma-separated "
                   "(default: every kind but identity, which only the population "
                   "registry's feed may send).")
@with_appcontext
def create_user(role: str, region: str | None, name: str | None,
                record_kinds: str | None) -> None:
    """Create an operator credential and print its bearer secret (shown once)."""
    if role in REGIONAL_ROLES and not region:
        raise click.UsageError(f"--region is required for {role}")
    if region is not None and not is_code(region):
        raise click.UsageError("--region must be 1-32 letters, digits, '-' or '_'")
    kinds = None
    if record_kinds is not None:
        if role != Role.DATA_PROVIDER.value:
            raise click.UsageError("--record-kinds is for --role data_provider")
        kinds = sorted({k.strip() for k in record_kinds.split(",") if k.strip()})
        unknown = set(kinds) - set(RECORD_KINDS)
        if unknown or not kinds:
            raise click.UsageError(f"--record-kinds: choose from {', '.join(RECORD_KINDS)}")
    _, secret = issue_credential(Role(role), region=region, name=name, record_kinds=kinds)
    db.session.commit()
    click.echo(secret)


@click.command("rotate-keys")
@click.option("--withdraw-old", is_flag=True,
              help="Also stop publishing the old keys now (a compromised key).")
@with_appcontext
def rotate_keys(withdraw_old: bool) -> None:
    """Start signing with a new key; old public keys stay published until their tokens expire."""
    ring = context.keyring()
    old = [k.kid for k in ring.published(datetime.now(UTC))]
    key = ring.rotate(datetime.now(UTC))
    click.echo(f"new signing key {key.kid}")
    if withdraw_old:
        for kid in old:
            ring.withdraw(kid)
            click.echo(f"withdrew key {kid}")


@click.command("seed-demo")
@with_appcontext
def seed_demo() -> None:
    """Load demo data (a region, a data provider, an official, a few citizens) once."""
    from .demo import seed

    path = Path(current_app.instance_path) / "demo-credentials.json"
    if path.exists():
        click.echo(f"demo data already loaded; credentials in {path}")
        return
    creds = seed(datetime.now(UTC) - timedelta(seconds=1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(creds, fh, indent=2)
    click.echo(f"demo data loaded; bearer secrets written to {path}")
    for who, secret in creds.items():
        click.echo(f"  {who}: {secret}")


commands = [create_user, rotate_keys, seed_demo]


@click.command("verify-audit")
@with_appcontext
def verify_audit() -> None:
    """Check both audit logs' hash chains (health, then credit); exit 1 at the first
    edited or removed entry."""
    from .credit.models import CreditAuditEntry
    from .models.audit import AuditEntry
    from .services.audit import verify_chain

    failed = False
    for name, model in (("audit log", AuditEntry), ("credit audit log", CreditAuditEntry)):
        checked, broken = verify_chain(model=model)
        if broken is not None:
            click.echo(f"{name} BROKEN at entry {broken.entry_id}: {broken.problem} "
                       f"({checked} entries verified before it)")
            failed = True
        else:
            click.echo(f"{name} intact: {checked} entries")
    if failed:
        raise SystemExit(1)


commands.append(verify_audit)


@click.command("drain-checkins")
@click.option("--once", is_flag=True, help="Drain what is queued now, then stop.")
@click.option("--linger-ms", default=200, show_default=True,
              help="Wait this long after a short batch, so batches fill (one commit each).")
@with_appcontext
def drain_checkins(once: bool, linger_ms: int) -> None:
    """Move scans from the Redis stream into the check-in table (the worker)."""
    import time

    from .services.checkins import drain_all, drain_once

    redis = context.redis()
    if once:
        click.echo(f"stored {drain_all(redis)} scan records")
        return
    click.echo("draining scans; Ctrl-C stops")
    while True:
        # A commit per scan would cost more than the scans: let batches fill a little.
        if drain_once(redis, count=1000, block_ms=1000) < 1000:
            time.sleep(linger_ms / 1000)


@click.command("purge-expired")
@with_appcontext
def purge_expired() -> None:
    """Delete check-ins, questionnaires, code history and registrations nobody verified,
    past retention; print the counts."""
    from .services.checkins import purge_expired as purge
    from .services.verification import purge_unbound_registrations

    cfg, at = current_app.config, datetime.now(UTC)
    counts = purge(at, checkin_days=cfg["CHECKIN_RETENTION_DAYS"],
                   questionnaire_days=cfg["QUESTIONNAIRE_RETENTION_DAYS"],
                   history_days=cfg["CODE_HISTORY_RETENTION_DAYS"])
    counts |= purge_unbound_registrations(at, days=cfg["REGISTRATION_RETENTION_DAYS"])
    click.echo(" ".join(f"{name}={n}" for name, n in counts.items()))


@click.command("move-credit-outbox")
@with_appcontext
def move_credit_outbox() -> None:
    """Record on the health side the credit acts a failure left in the credit store's
    outbox (run every minute; each act is normally moved in its own request). Exit 1
    if an entry could not be moved: it stays pending for the next run. An entry that
    failed PARK_AFTER times or more is listed as parked (id, action, failed moves, the
    last exception's class), for someone to look at."""
    from .services.credit_outbox import PARK_AFTER, move_pending

    moved, failed = move_pending(datetime.now(UTC))
    click.echo(f"moved={moved} failed={len(failed)}")
    for entry in failed:
        if entry.attempts >= PARK_AFTER:
            click.echo(f"parked: entry {entry.id} ({entry.action}), {entry.attempts} "
                       f"attempts, last {entry.error}")
    if failed:
        raise SystemExit(1)


commands += [drain_checkins, purge_expired, move_credit_outbox]


@click.command("refresh-trust")
@click.option("--issuer", default=None, help="Only this issuer.")
@click.option("--force", is_flag=True, help="Also those whose copy is still fresh.")
@with_appcontext
def refresh_trust(issuer: str | None, force: bool) -> None:
    """Fetch trusted issuers' JWKS whose max-age ran out (run it from cron every minute)."""
    from .services.audit import Actor
    from .services.trust import refresh_all

    outcome = refresh_all(datetime.now(UTC), context.trust_fetch(),
                          Actor(None, "command line", "admin", None),
                          only=issuer, stale_only=not force)
    context.trusted_keys().invalidate()
    for name, result in outcome.items():
        click.echo(f"{name}: {result}")


@click.command("trust-issuer")
@click.argument("issuer_id")
@click.option("--name", required=True)
@click.option("--jwks-url", required=True)
@with_appcontext
def trust_issuer(issuer_id: str, name: str, jwks_url: str) -> None:
    """Add (or update) a trusted issuer from the command line; audited as the operator."""
    from .services.audit import Actor
    from .services.trust import issuer_keys, put_issuer

    try:
        issuer = put_issuer(Actor(None, "command line", "admin", None), issuer_id,
                            {"name": name, "jwks_url": jwks_url},
                            local_issuer=current_app.config["ISSUER_ID"], now=datetime.now(UTC),
                            policy=context.trust_fetch())
    except ValidationFailed as exc:
        raise click.ClickException(f"{exc.message} {exc.fields}") from None
    context.trusted_keys().invalidate()
    keys = len(issuer_keys(issuer))
    click.echo(f"{issuer_id}: {keys} keys" + (f" ({issuer.last_error})" if issuer.last_error
                                             else ""))


commands += [refresh_trust, trust_issuer]


def _official(region: str):
    from .services.audit import Actor

    return Actor(None, "command line", "official", region)


@click.command("simulate-ruleset")
@click.argument("ruleset_id", type=int)
@click.option("--region", required=True)
@with_appcontext
def simulate_ruleset(ruleset_id: int, region: str) -> None:
    """Simulate a draft over the region's population, printing progress (large cities)."""
    from .services.ruleset_lifecycle import simulate

    result = simulate(_official(region), ruleset_id, datetime.now(UTC),
                      current_app.extensions["ruleset_cache"],
                      progress=lambda n: click.echo(f"  evaluated {n} people", err=True))
    click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))


@click.command("publish-ruleset")
@click.argument("ruleset_id", type=int)
@click.option("--region", required=True)
@with_appcontext
def publish_ruleset(ruleset_id: int, region: str) -> None:
    """Publish a draft from the command line (audited), printing progress."""
    from .services.ruleset_lifecycle import publish

    publication = publish(_official(region), ruleset_id, datetime.now(UTC),
                          current_app.extensions["ruleset_cache"],
                          progress=lambda n: click.echo(f"  recomputed {n} codes", err=True))
    click.echo(f"published version {publication.version}: {publication.changed} of "
               f"{publication.recomputed} codes changed")


commands += [simulate_ruleset, publish_ruleset]


@click.command("outbox")
@click.option("--to", default=None, help="Only messages to this phone number or address.")
@click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N.")
@with_appcontext
def outbox(to: str | None, last: int | None) -> None:
    """Print what the notifier wrote to the outbox (embedded default), one JSON object a line."""
    from .notifier import read_outbox

    messages = read_outbox(current_app.config["NOTIFY_OUTBOX_PATH"])
    if to is not None:
        messages = [m for m in messages if m.get("to") == to]
    if last is not None:
        messages = messages[-last:]
    for message in messages:
        click.echo(json.dumps(message, ensure_ascii=False))


commands.append(outbox)
