"""On PostgreSQL a transaction begins at the first statement that needs one.

A DB-API driver sends BEGIN before a connection's first statement, and the pool
sends ROLLBACK when the request hands the connection back: two round trips more
around a code read or a token refresh, whose only statement is one SELECT. And
psycopg forgets its prepared statements at every ROLLBACK, so the hottest query of
all (the caller's credential) was parsed and planned anew on every request.

Here a PostgreSQL connection runs in autocommit, and BEGIN is sent just before the
first statement that is not a plain SELECT: a write, a SELECT ... FOR UPDATE, a
savepoint, DDL, SQL text (an advisory lock is SQL text), or a read through a
server-side cursor. From there to COMMIT or ROLLBACK everything is one transaction,
exactly as before; SQLAlchemy still calls ``commit()`` and ``rollback()``, which
psycopg sends only when a transaction is open. The SELECTs before it each read
their own snapshot, and that is what READ COMMITTED gives to the statements of a
transaction as well; so no request reads or writes anything differently. A
read-only request costs one round trip instead of three.

That premise is checked, not assumed: the mode is used only where the database's
default isolation is READ COMMITTED and the engine sets no level of its own. A
connection given an isolation level for its own use (``AUTOCOMMIT`` for VACUUM,
``SERIALIZABLE``) runs exactly as SQLAlchemy sets it up, and goes back to this
mode at its next checkout.

A SELECT that must hold what it reads until the commit takes a lock (FOR UPDATE)
and so begins the transaction. A function with side effects belongs in SQL text,
never in a ``select(func....)``: that would run outside the transaction. Two-phase
commit needs a connection outside this mode (an explicit isolation level).
"""

from __future__ import annotations

from typing import Any

from psycopg import ServerCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import Select, event
from sqlalchemy.engine import Engine

_MODE = "begin_before_first_write"  # the connection record's flag


def begin_before_first_write(engine: Engine) -> None:
    """Run ``engine``'s connections in autocommit, beginning a transaction on demand.

    Only for PostgreSQL through psycopg; other engines are left as they are.
    """
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        # After SQLAlchemy's own connect handling: an engine-wide isolation_level has
        # been applied by now, and the first connection has read the server's default.
        if (engine.dialect.default_isolation_level == "READ COMMITTED"
                and dbapi_connection.isolation_level is None
                and not dbapi_connection.autocommit):
            record.info[_MODE] = True
            dbapi_connection.autocommit = True

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A connection that ran with an isolation level of its own comes back with
        # SQLAlchemy's default restored, which for psycopg means autocommit off.
        if record.info.get(_MODE) and not dbapi_connection.autocommit:
            dbapi_connection.isolation_level = None
            dbapi_connection.autocommit = True

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "checkout", on_checkout)
    # The dialect's execute hooks, not before_cursor_execute: what they raise is handled
    # as the statement's own error (a dropped connection is invalidated, then reported).
    event.listen(engine, "do_execute", _begin_if_needed)
    event.listen(engine, "do_executemany", _begin_if_needed)
    event.listen(engine, "do_execute_no_params",
                 lambda cursor, statement, context: _begin_if_needed(cursor, statement, (),
                                                                     context))


def _begin_if_needed(cursor: Any, _statement: str, _parameters: Any, context: Any) -> None:
    connection = cursor.connection
    if (connection.autocommit
            and connection.info.transaction_status is TransactionStatus.IDLE
            and "isolation_level" not in context.execution_options
            and not _reads_only(cursor, context)):
        connection.execute("BEGIN", prepare=False)
    # None: the statement itself is then executed as usual.


def _reads_only(cursor: Any, context: Any) -> bool:
    """A SELECT without a row lock, on a client-side cursor (a server-side one is a
    DECLARE, which PostgreSQL allows only inside a transaction)."""
    statement = getattr(getattr(context, "compiled", None), "statement", None)
    return (isinstance(statement, Select) and statement._for_update_arg is None
            and not isinstance(cursor, ServerCursor))
