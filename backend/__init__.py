"""The health-code service: ``create_app`` builds a configured Flask app."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from .config import Config
from .keys import make_private_dir


def create_app(config: Config | None = None) -> Flask:
    """Build the app from ``config`` (default: the environment)."""
    config = config or Config()
    app = Flask(__name__, instance_path=config.INSTANCE_PATH, static_folder=None)
    app.config.from_mapping(config.as_mapping())
    # The embedded default keeps its SQLite files and keys here (as flaskr does): 0700.
    make_private_dir(Path(app.instance_path))
    register_extensions(app)
    register_api(app)
    register_commands(app)
    from .health import register_health
    from .pages import register_pages

    register_pages(app)
    register_health(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind the database, migrations, Redis and the service singletons to ``app``."""
    from . import models  # noqa: F401  (the models must be known before migrations run)
    from .credit import models as credit_models  # noqa: F401  (the credit bind's tables)
    from .extensions import db, keep_sqlite_file_private, migrate, redis_store
    from .limits import init_limiter
    from .metrics import register_metrics
    from .services.context import init_services
    from .transactions import begin_before_first_write

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            begin_before_first_write(engine)
            keep_sqlite_file_private(engine)
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True)
    redis_store.init_app(app)
    init_limiter(app)
    register_metrics(app)
    init_services(app)


def register_api(app: Flask) -> None:
    """Mount the API blueprints and the one JSON error shape."""
    from .api import register_blueprints
    from .api.base import Api
    from .errors import register_error_handlers

    api = Api(app)
    register_blueprints(api)
    register_error_handlers(app)


def register_commands(app: Flask) -> None:
    """Add the operator commands (create-user, rotate-keys, seed-demo, ...)."""
    from .cli import commands

    for command in commands:
        app.cli.add_command(command)


def _migrations_dir() -> Path:
    return Path(__file__).resolve().parent / "migrations"
