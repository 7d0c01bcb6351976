"""On PostgreSQL a transaction begins at the first statement that needs one.

A DB-API driver sends BEGIN before a connection's first statement, and the pool
sends ROLLBACK when the request hands the connection back: two round trips more
around a code read or a token refresh, whose only statement is one SELECT. And
psycopg forgets its prepared statements at every ROLLBACK, so the hottest query of
all (the caller's credential) was parsed and planned anew on every request.

Here a PostgreSQL connection runs in autocommit, and BEGIN is sent just before the
first statement that is not a plain SELECT: a write, a SELECT ... FOR UPDATE, a
savepoint, DDL, or SQL text (an advisory lock is SQL text). From there to COMMIT or
ROLLBACK everything is one transaction, exactly as before; SQLAlchemy still calls
``commit()`` and ``rollback()``, which psycopg sends only when a transaction is
open. The SELECTs before it each read their own snapshot, and that is what READ
COMMITTED (the isolation every connection here uses) gives to the statements of a
transaction as well; so no request reads or writes anything differently. A
read-only request costs one round trip instead of three.

A SELECT that must hold what it reads until the commit takes a lock (FOR UPDATE)
and so begins the transaction. A function with side effects belongs in SQL text,
never in a ``select(func....)``: that would run outside the transaction.
"""

from __future__ import annotations

from typing import Any

from psycopg.pq import TransactionStatus
from sqlalchemy import Select, event
from sqlalchemy.engine import Engine


def begin_before_first_write(engine: Engine) -> None:
    """Run ``engine``'s connections in autocommit, beginning a transaction on demand.

    Only for PostgreSQL through psycopg; other engines are left as they are.
    """
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return
    event.listen(engine, "connect", _autocommit)
    # The dialect's execute hooks, not before_cursor_execute: what they raise is handled
    # as the statement's own error (a dropped connection is invalidated, then reported).
    event.listen(engine, "do_execute", _begin_if_needed)
    event.listen(engine, "do_executemany", _begin_if_needed)
    event.listen(engine, "do_execute_no_params",
                 lambda cursor, statement, context: _begin_if_needed(cursor, statement, (),
                                                                     context))


def _autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.autocommit = True


def _begin_if_needed(cursor: Any, _statement: str, _parameters: Any, context: Any) -> None:
    if (cursor.connection.info.transaction_status is TransactionStatus.IDLE
            and not _reads_only(context)):
        cursor.execute("BEGIN", prepare=False)
    # None: the statement itself is then executed as usual.


def _reads_only(context: Any) -> bool:
    """A SELECT statement without a row lock; anything else might write or lock."""
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return isinstance(statement, Select) and statement._for_update_arg is None
