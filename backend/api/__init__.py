"""HTTP API blueprints, registered on the flask-smorest ``Api``."""

from __future__ import annotations

from flask_smorest import Api

from . import (
    appeals,
    citizens,
    credit,
    gov,
    officials,
    tracing,
    trust,
    verification,
    wellknown,
)


def register_blueprints(api: Api) -> None:
    from checkpoints import api as checkpoint_api

    for module in (wellknown, citizens, verification, appeals, gov, officials, tracing,
                   credit, trust, checkpoint_api):
        api.register_blueprint(module.blp)
