"""The Blueprint every API module uses: flask-smorest's, with a stricter JSON body parser."""

from __future__ import annotations

import json
import typing

import flask
from flask_smorest import Blueprint as _Blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from ..exceptions import DomainError


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
            return core.parse_json(data)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError):
            raise DomainError("The JSON body cannot be read.", code="bad_json",
                              fields={"_body": ["is not JSON this service can read"]}) from None


class Blueprint(_Blueprint):
    ARGUMENTS_PARSER = StrictJSONParser()
