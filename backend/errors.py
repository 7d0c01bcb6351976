"""One JSON shape for every error: ``{"error": {"code", "message", "fields"}}``."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from flask import Flask, jsonify, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError, StatementError
from werkzeug.exceptions import HTTPException

from .exceptions import DomainError, TooManyRequests

LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout ran out
log = logging.getLogger(__name__)


def _flatten(messages: Any) -> dict[str, Any]:
    # webargs nests by location ({"json": {...}}); clients want the field names.
    if not isinstance(messages, dict):
        return {"_body": messages}
    out: dict[str, Any] = {}
    for location, value in messages.items():
        if location in ("json", "query", "form", "headers", "view_args", "path") and isinstance(
            value, dict
        ):
            out.update(value)
        else:
            out[location] = value
    return out


def _string_keys(value: Any) -> Any:
    # marshmallow keys list items by int next to "_schema"; JSON wants (sortable) strings.
    if isinstance(value, dict):
        return {str(k): _string_keys(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_string_keys(v) for v in value]
    return value


def error_body(status: int, code: str, message: str, fields: dict | None = None, **extra: Any):
    body = {"error": {"code": code, "message": message, "fields": _string_keys(fields or {}),
                      **_string_keys(extra)}}
    response = jsonify(body)
    response.status_code = status
    return response


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def handle_http_exception(exc: HTTPException):
    data = getattr(exc, "data", None) or {}
    fields = _flatten(data["messages"]) if "messages" in data else {}
    status = exc.code or 500
    if status == 422 or (status == 400 and fields):
        return error_body(status, "validation_error", "The request has invalid fields.", fields)
    headers = exc.get_headers() if status == 405 else None
    response = error_body(status, _http_code(exc), exc.description or exc.name, fields)
    if headers:
        response.headers["Allow"] = dict(headers).get("Allow", "")
    return response


def handle_domain_error(exc: DomainError):
    response = error_body(exc.status, exc.code, exc.message, exc.fields, **exc.extra)
    if isinstance(exc, TooManyRequests):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def handle_database_down(exc: OperationalError):
    # A database restart or failover, or a row held past DB_LOCK_TIMEOUT_MS (a ruleset
    # being published): nothing was committed, the client may retry.
    from .extensions import db

    db.session.rollback()
    if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
        response = error_body(503, "busy", "These records are being changed (a ruleset "
                              "being published, say); nothing was stored. Retry shortly.")
    else:
        response = error_body(503, "service_unavailable",
                              "The database is unavailable; nothing was stored. Retry shortly.")
    response.headers["Retry-After"] = "2"
    return response


def describe_database_error(exc: SQLAlchemyError) -> str:
    """What went wrong, in words that carry no value from the statement.

    A driver's message may quote the values (PostgreSQL's ``DETAIL: Key (hash)=(...)
    already exists``, ``invalid input syntax for type integer: "..."``), so only
    names are kept: the error classes, the SQLSTATE, the constraint, table and column.
    """
    parts = [type(exc).__name__]
    orig = getattr(exc, "orig", None)
    if orig is not None:
        parts.append(f"{type(orig).__module__}.{type(orig).__name__}")
        for label, value in (("sqlstate", getattr(orig, "sqlstate", None)),
                             ("sqlite", getattr(orig, "sqlite_errorname", None))):
            if value:
                parts.append(f"{label}={value}")
        diag = getattr(orig, "diag", None)
        for name in ("constraint_name", "table_name", "column_name"):
            value = getattr(diag, name, None) if diag is not None else None
            if value:
                parts.append(f"{name.removesuffix('_name')}={value}")
        if type(orig).__module__.startswith("sqlite3"):
            # SQLite's messages name the constraint and column, never a value.
            parts.append(f"({orig})")
    if isinstance(exc, StatementError) and exc.statement:
        statement = " ".join(exc.statement.split())
        parts.append(f"statement: {statement[:300]}")
    return " ".join(parts)


def handle_database_error(exc: SQLAlchemyError):
    """An unexpected database error: 500, logged with its stack but never its values."""
    from .extensions import db

    db.session.rollback()
    stack = "".join(traceback.format_tb(exc.__traceback__))
    log.error("database error on %s %s: %s\n%s", request.method, request.path,
              describe_database_error(exc), stack)
    return error_body(500, "internal_error", "Something went wrong; nothing was stored.")


def _refuse_nul() -> None:
    # PostgreSQL text cannot hold NUL; refuse it in the path or query before any view.
    if "\x00" in request.path or any("\x00" in v for v in request.args.values()):
        raise DomainError("The address may not contain NUL characters.", code="bad_request",
                          fields={"_path": ["contains a NUL character"]})


def register_error_handlers(app: Flask) -> None:
    """Route HTTP, validation and domain errors to the JSON shape."""
    app.before_request(_refuse_nul)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(OperationalError, handle_database_down)
    # Any other database error is a bug: answered 500 and logged without parameters
    # (Flask's default handler would log the driver's message, which may quote them).
    app.register_error_handler(SQLAlchemyError, handle_database_error)
