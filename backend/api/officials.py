"""Officials: versioned rulesets of their region, simulation, publish, rollback, audit."""

from __future__ import annotations

from ..auth import requires
from ..extensions import db
from ..models import Role
from ..services.audit import query_entries
from ..services.ruleset_lifecycle import (
    create_draft,
    get_ruleset,
    list_rulesets,
    publish,
    rollback,
    simulate,
)
from ..services.rulesets import active_ruleset_row
from ..services.stats import color_distribution
from .auditing import current_actor
from .base import Blueprint
from .common import now, ruleset_cache
from .schemas.common import AuditPageSchema, AuditQuerySchema
from .schemas.officials import (
    ColorStatsQuerySchema,
    ColorStatsSchema,
    DraftSchema,
    PublicationSchema,
    RollbackSchema,
    RulesetListSchema,
    RulesetSchema,
    SimulationSchema,
)

blp = Blueprint("officials", __name__, url_prefix="/api/v1", description="Officials")


@blp.get("/rulesets/active")
@requires(Role.OFFICIAL)
@blp.response(200, RulesetSchema)
def active():
    """The ruleset in force in the caller's region."""
    row = active_ruleset_row(current_actor().region)
    db.session.commit()  # the shipped default is stored as version 1 on first use
    return row


@blp.get("/rulesets")
@requires(Role.OFFICIAL)
@blp.response(200, RulesetListSchema)
def index():
    """Every version and draft of the caller's region, newest first."""
    return {"rulesets": list_rulesets(current_actor())}


@blp.post("/rulesets")
@requires(Role.OFFICIAL)
@blp.arguments(DraftSchema)
@blp.response(201, RulesetSchema)
def draft(data):
    """Store a draft after validating every rule; 422 names each rule and field at fault."""
    return create_draft(current_actor(), data["rules"], data["note"], now())


@blp.get("/rulesets/<id:ruleset_id>")
@requires(Role.OFFICIAL)
@blp.response(200, RulesetSchema)
def show(ruleset_id: int):
    return get_ruleset(current_actor(), ruleset_id)


@blp.post("/rulesets/<id:ruleset_id>/simulate")
@requires(Role.OFFICIAL)
@blp.response(200, SimulationSchema)
def simulate_draft(ruleset_id: int):
    """Who would change color if this ruleset were published now; nothing is written."""
    actor = current_actor()
    result = simulate(actor, ruleset_id, now(), ruleset_cache())
    body = result.to_dict()
    body["ruleset_id"] = ruleset_id
    body["active_version"] = active_ruleset_row(actor.region).version
    return body


@blp.post("/rulesets/<id:ruleset_id>/publish")
@requires(Role.OFFICIAL)
@blp.response(200, PublicationSchema)
def publish_draft(ruleset_id: int):
    """Publish a draft as the next version and recompute every code of the region."""
    return publish(current_actor(), ruleset_id, now(), ruleset_cache())


@blp.post("/rulesets/rollback")
@requires(Role.OFFICIAL)
@blp.arguments(RollbackSchema)
@blp.response(200, PublicationSchema)
def rollback_to(data):
    """Publish a new version equal to an earlier one."""
    return rollback(current_actor(), data["to_version"], data["reason"], now(),
                    ruleset_cache())


@blp.get("/audit")
@requires(Role.OFFICIAL, Role.ADMIN)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def audit(query):
    """The audit log, newest first; officials see their own region's entries."""
    actor = current_actor()
    region = None if actor.role == Role.ADMIN.value else actor.region
    entries, total = query_entries(region=region, **query)
    return {"entries": entries, "page": query["page"], "per_page": query["per_page"],
            "total": total}


@blp.get("/stats/colors")
@requires(Role.OFFICIAL)
@blp.arguments(ColorStatsQuerySchema, location="query")
@blp.response(200, ColorStatsSchema)
def color_stats(query):
    """The region's color distribution at the end of each of the last ``days`` days."""
    region = current_actor().region
    return {"region": region, "days": color_distribution(region, query["days"], now())}
