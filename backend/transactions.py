"""On PostgreSQL a transaction begins at the first statement that needs one.

A DB-API driver sends BEGIN before a connection's first statement, and the pool
sends ROLLBACK when the request hands the connection back: two round trips more
around a code read or a token refresh, whose only statement is one SELECT. And
psycopg forgets its prepared statements at every ROLLBACK, so the hottest query of
all (the caller's credential) was parsed and planned anew on every request.

Here a PostgreSQL connection runs in autocommit, and BEGIN is sent just before the
first statement that is not a plain read. From there to COMMIT or ROLLBACK everything
is one transaction, exactly as before; SQLAlchemy still calls ``commit()`` and
``rollback()``, which psycopg sends only when a transaction is open. The reads before
it each read their own snapshot, and that is what READ COMMITTED gives to the
statements of a transaction as well; so no request reads or writes anything
differently. A read-only request costs one round trip instead of three.

That premise is checked, not assumed: the mode is used only where the database's
default isolation is READ COMMITTED and the engine sets no level of its own. A
connection given an isolation level for its own use (``AUTOCOMMIT`` for VACUUM,
``SERIALIZABLE``) runs exactly as SQLAlchemy sets it up, and goes back to this
mode at its next checkout.

A plain read is a SELECT built with SQLAlchemy whose SQL, as sent, takes no row lock
(``FOR UPDATE``, ``FOR SHARE``...), calls no function and has no INSERT, UPDATE or
DELETE in it, run on a client-side cursor (a server-side one is a DECLARE, which needs
a transaction). Everything else begins the transaction: a write, a lock, a savepoint,
DDL, SQL text, a server-side cursor, a SELECT carrying a data-modifying CTE
(``select(...).add_cte(insert(...).returning(...).cte())``), and a SELECT that calls
a function. A function may act beyond its result (an advisory
lock held until the commit, ``nextval``, a function of our own that writes) and the
SQL does not say which ones do, so every call counts; that costs a BEGIN only to the
few reads that aggregate (counts for a listing, statistics), none on the hot paths.
The rule reads the SQL PostgreSQL will parse, not SQLAlchemy's statement objects, so
a call hidden in ``literal_column`` or ``text`` inside a ``select`` counts too.

Two-phase commit needs a connection outside this mode (an explicit isolation level).
"""

from __future__ import annotations

import re
from typing import Any

from psycopg import ServerCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import Select, event
from sqlalchemy.engine import Engine

_MODE = "begin_before_first_write"  # the connection record's flag
# A row-locking clause; a write in a CTE (SQLAlchemy renders keywords in upper case,
# and this match is case-sensitive so that a column such as updated_at never matches);
# or a call: a name followed by "(" (SQLAlchemy renders "IN (", "EXISTS (" and its
# parameters, "%(name)s", otherwise). A CAST(...), a type's length, VARCHAR(20), or an
# upper-case name quoted, "UPDATE", matches too: a BEGIN too many, never one too few.
_LOCK_WRITE_OR_CALL = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b"
    r"|\b(?:INSERT|UPDATE|DELETE)\b|\w\(")


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


def _begin_if_needed(cursor: Any, statement: str, _parameters: Any, context: Any) -> None:
    connection = cursor.connection
    if (connection.autocommit
            and connection.info.transaction_status is TransactionStatus.IDLE
            and "isolation_level" not in context.execution_options
            and not _plain_read(cursor, statement, context)):
        connection.execute("BEGIN", prepare=False)
    # None: the statement itself is then executed as usual.


def _plain_read(cursor: Any, sql: str, context: Any) -> bool:
    """A SQLAlchemy SELECT whose SQL locks no row, writes nothing and calls no
    function, on a client-side cursor (see the module docstring)."""
    compiled = getattr(context, "compiled", None)  # None for SQL text
    return (compiled is not None and isinstance(compiled.statement, Select)
            and not isinstance(cursor, ServerCursor) and _LOCK_WRITE_OR_CALL.search(sql) is None)
