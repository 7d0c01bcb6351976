"""Extension objects, created unbound; ``create_app`` binds them with ``init_app``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine

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


def keep_sqlite_file_private(engine: Engine) -> None:
    """A SQLite database file is made mode 0600 before SQLite opens it.

    SQLite creates a missing file 0644 less the umask: readable by every local user,
    and it holds health records (and the credit store). Made here first, the file
    is the owner's alone whatever the umask; SQLite gives its journal the same mode.
    An existing file open to others (an older install) is narrowed too.
    """
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        return

    def before_connect(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            found = os.stat(path)
            if found.st_mode & 0o077 and found.st_uid == os.getuid():
                os.chmod(path, 0o600)

    event.listen(engine, "do_connect", before_connect)
# The flask-smorest Api is made per app in ``create_app``: it keeps its app and
# OpenAPI spec on itself, so one shared instance cannot serve two apps (two
# issuers in one test process).


REDIS_TIMEOUT_SECONDS = 2.0  # every client of ours: a Redis that stops answering fails fast


class RedisHolder:
    """Gives each app its Redis client: a real server when REDIS_URL is set, else fakeredis.

    The client lives on ``app.extensions`` so that two apps in one process (two
    issuers in a test) never share one.
    """

    def init_app(self, app: Flask) -> None:
        url = app.config.get("REDIS_URL") or ""
        if url:
            import redis

            client = redis.Redis.from_url(url, decode_responses=True,
                                          socket_timeout=REDIS_TIMEOUT_SECONDS)
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
