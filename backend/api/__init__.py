"""HTTP API blueprints, registered on the flask-smorest ``Api``."""

from __future__ import annotations

from flask_smorest import Api

from . import citizens, gov, officials, wellknown


def register_blueprints(api: Api) -> None:
    for module in (wellknown, citizens, gov, officials):
        api.register_blueprint(module.blp)
