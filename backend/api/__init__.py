"""HTTP API blueprints, registered on the flask-smorest ``Api``.

One module per blueprint (``blp``), its bodies in ``schemas/<blueprint>.py``.

Views read configuration one way: ``current_app.config["NAME"]``, at the point of use
(``cfg = current_app.config`` first when a view reads several), and hand services the
values; no service reads the config. The app's long-lived objects (keys, Redis, the
notifier, caches) come from accessor functions (``backend.services.context``, and
``common.ruleset_cache`` and ``common.policy_cache``), never ``current_app.extensions``.
"""

from __future__ import annotations

from flask_smorest import Api

from . import (
    appeals,
    checkpoints,
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
    for module in (wellknown, citizens, verification, appeals, gov, officials, tracing,
                   credit, trust, checkpoints):
        api.register_blueprint(module.blp)
