"""Liveness (/healthz) and readiness (/readyz).

/healthz answers as long as the process serves requests; it names the
dependencies the service is currently working around (e.g. Redis down: scans
fall back to the database). /readyz checks the databases, Redis and the signing
key and answers 503 when one is missing.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text

from .extensions import db

health = Blueprint("health", __name__)
log = logging.getLogger(__name__)
DEGRADED_FOR_SECONDS = 60


def note_degraded(app: Flask, dependency: str, error: Exception) -> None:
    """Remember (for /healthz) and log that ``dependency`` failed and we carried on."""
    from .metrics import DEGRADED

    app.extensions.setdefault("degraded", {})[dependency] = time.monotonic()
    DEGRADED.labels(dependency).inc()
    log.warning("%s unavailable, degraded mode: %s", dependency, type(error).__name__)


def degraded(app: Flask) -> list[str]:
    now = time.monotonic()
    seen = app.extensions.get("degraded", {})
    return sorted(d for d, at in seen.items() if now - at < DEGRADED_FOR_SECONDS)


@health.get("/healthz")
def healthz():
    down = degraded(current_app)
    return jsonify({"status": "degraded" if down else "ok", "degraded": down})


@health.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    for name, bind in (("database", None), ("credit_database", "credit")):
        try:
            with db.engines[bind].connect() as conn:
                conn.execute(text("SELECT 1"))
            checks[name] = "ok"
        except Exception as exc:  # noqa: BLE001 (any failure means not ready)
            checks[name] = f"error: {type(exc).__name__}"
    try:
        current_app.extensions["redis"].ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {type(exc).__name__}"
    try:
        current_app.extensions["keyring"].active()
        current_app.extensions["keyring"].jwks(datetime.now(UTC))
        checks["signing_key"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["signing_key"] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    return response


def register_health(app: Flask) -> None:
    """Mount /healthz and /readyz (no rate limit: probes must always get in)."""
    app.register_blueprint(health)
