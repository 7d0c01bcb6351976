"""Extension objects, created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Objects keep their values across a commit: a session lives for one request, and
# reloading each object after it had just been written cost a query apiece (a token
# request re-read the citizen and the code it had just stored).
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING),
                session_options={"expire_on_commit": False})
migrate = Migrate()
# The flask-smorest Api is made per app in ``create_app``: it keeps its app and
# OpenAPI spec on itself, so one shared instance cannot serve two apps (two
# issuers in one test process).


class RedisHolder:
    """Gives each app its Redis client: a real server when REDIS_URL is set, else fakeredis.

    The client lives on ``app.extensions`` so that two apps in one process (two
    issuers in a test) never share one.
    """

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL") or ""
        if url:
            import redis

            client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2.0)
        else:
            import fakeredis

            # A server of its own: two apps in one process must not share state.
            client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True)
        app.extensions["redis"] = client

    @staticmethod
    def client():
        from flask import current_app

        return current_app.extensions["redis"]


redis_store = RedisHolder()
