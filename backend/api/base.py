"""The Blueprint every API module uses: flask-smorest's, with a stricter JSON body parser.

``StrictJSONParser`` is the one request-body parser: every ``@blp.arguments`` body goes
through it, and so does the scan route's fenced fast path (``backend.api.checkpoints``)
whenever a body is not the plain ``{"token": ...}`` it reads itself.
"""

from __future__ import annotations

import json
import typing

import flask
import marshmallow as ma
from flask_smorest import Api as _Api
from flask_smorest import Blueprint as _Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter

from ..exceptions import DomainError, ValidationFailed
from .schemas.common import ErrorSchema


class UnsupportedBody(DomainError):
    status = 415
    code = "unsupported_media_type"


class StrictJSONParser(FlaskParser):
    """Refuses, with a 4xx, what webargs would let through or turn into a 500.

    A non-empty body that is not JSON is refused (webargs would treat it as
    absent), and JSON that Python cannot load (a 5000-digit number, nesting
    deeper than the recursion limit) is a 400, not a 500.
    """

    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        data = req.get_data(cache=True)
        if not is_json_request(req):
            if data:
                raise UnsupportedBody("Send the body as JSON (Content-Type: application/json).",
                                      fields={"_body": ["must be JSON"]})
            return core.missing
        try:
            parsed = core.parse_json(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError):
            raise DomainError("The JSON body cannot be read.", code="bad_json",
                              fields={"_body": ["is not JSON this service can read"]}) from None
        problem = _unstorable_text(parsed)
        if problem is not None:
            path, what = problem
            fields: dict = {}
            node = fields
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1] if path else "_body"] = [f"contains {what}"]
            raise ValidationFailed("Text the service cannot store.", fields=fields)
        return parsed


def _unstorable_text(value: typing.Any, path: tuple = ()) -> tuple[tuple, str] | None:
    """Where a string holds NUL or a lone surrogate: valid JSON escapes, but no database
    stores them (PostgreSQL refuses NUL, UTF-8 has no surrogates)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "a lone surrogate (not Unicode text)"
        return None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        for text in ((key,) if isinstance(key, str) else ()):
            if (found := _unstorable_text(text, path)) is not None:
                return found
        if (found := _unstorable_text(item, (*path, str(key)))) is not None:
            return found
    return None


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()

    def arguments(self, schema: type[ma.Schema] | ma.Schema, **kwargs: typing.Any
                  ) -> typing.Callable:
        """flask-smorest's ``arguments``, with a schema class made into an instance once.

        webargs instantiates a schema class on every request it parses (copying every
        field); an instance is used as it is. Loading keeps no state on the schema.
        """
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)


class IdConverter(IntegerConverter):
    """``<id:name>``: a row id, 1 to 2**31 - 1 (a larger number is a 404, not a 500)."""

    def __init__(self, url_map, *args, **kwargs) -> None:
        super().__init__(url_map, min=1, max=2**31 - 1)


class Api(_Api):
    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: flask.Flask, *args, **kwargs) -> None:
        app.url_map.converters["id"] = IdConverter
        super().init_app(app, *args, **kwargs)
        self.register_converter(IdConverter, lambda converter: {
            "type": "integer", "minimum": 1, "maximum": 2**31 - 1})
