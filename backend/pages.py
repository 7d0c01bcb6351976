"""The web pages under static/, served by the same app (no external requests)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

pages = Blueprint("pages", __name__)


@pages.get("/")
def citizen_page():
    return send_from_directory(STATIC_DIR, "index.html")


def register_pages(app: Flask) -> None:
    """Serve the pages with a strict Content-Security-Policy."""
    app.register_blueprint(pages)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
