"""Helpers for views that act on behalf of an authenticated operator."""

from __future__ import annotations

from ..auth import current_principal
from ..services.audit import Actor


def current_actor() -> Actor:
    p = current_principal()
    return Actor(id=p.credential_id, name=p.name, role=p.role.value, region=p.region)
