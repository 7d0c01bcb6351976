"""The web pages under static/, served by the same app (no external requests).

``/`` is the citizen's code page, ``/scan`` the checkpoint scanner and ``/console``
the officials' console; their scripts, styles and vendored libraries are under
``/static/``. Every response carries a strict Content-Security-Policy: scripts and
styles only from this origin (no inline code), images also from ``data:`` and
``blob:`` (the QR is fetched with the bearer header and shown from a blob URL),
requests only to this origin, and no framing.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, send_from_directory

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "form-action 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])

pages = Blueprint("pages", __name__)


def _page(filename: str):
    response = send_from_directory(STATIC_DIR, filename, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@pages.get("/")
def citizen_page():
    return _page("index.html")


@pages.get("/scan")
def scanner_page():
    return _page("scan.html")


@pages.get("/console")
def console_page():
    return _page("console.html")


@pages.get("/static/<path:filename>")
def asset(filename: str):
    """Scripts, styles, images and vendored libraries (revalidated by ETag)."""
    response = send_from_directory(STATIC_DIR, filename, max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


def register_pages(app: Flask) -> None:
    """Serve the pages with a strict Content-Security-Policy."""
    app.register_blueprint(pages)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Permissions-Policy",
                                    "camera=(self), microphone=(), geolocation=()")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response
