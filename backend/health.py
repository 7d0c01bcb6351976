"""Liveness: a trivial JSON answer that touches nothing (also the scan benchmark's ceiling)."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


def register_health(app: Flask) -> None:
    """Mount /healthz."""
    app.register_blueprint(health)
