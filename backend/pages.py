"""The web pages under static/, served by the same app (no external requests).

``/`` is the citizen's code page, ``/scan`` the checkpoint scanner and ``/console``
the officials' console; their scripts, styles and vendored libraries are under
``/static/``. Every response carries a strict Content-Security-Policy: scripts and
styles only from this origin (no inline code), images also from ``data:`` and
``blob:`` (the QR is fetched with the bearer header and shown from a blob URL),
requests only to this origin, and no framing.

No answer of the API is kept by a browser or a proxy (``Cache-Control: no-store``):
anything asked for with a credential is about the caller or someone they may see
(my data, a code, a device secret, tracing, appeals, the audit log), and the
anonymous answers include registration's, which carries the new secret. An
anonymous API answer may set its own caching (the JWKS is outside ``/api/``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, request, send_from_directory

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

# (lower-case name, name, value): added to every answer that does not set its own.
SECURITY_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
))
# On API answers and on every answer to a request with a credential (see above).
NO_STORE_HEADERS = (("cache-control", "Cache-Control", "no-store"),
                    ("pragma", "Pragma", "no-cache"))  # Pragma: for HTTP/1.0 caches

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
        # Every answer passes here, scans included: the names present are read in one
        # pass, and what is missing is added in one call (five setdefaults cost twice that).
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        missing = [(name, value) for low, name, value in SECURITY_HEADERS if low not in present]
        if "HTTP_AUTHORIZATION" in request.environ or (
                request.path.startswith("/api/") and "cache-control" not in present):
            for low, name, value in NO_STORE_HEADERS:
                if low in present:
                    headers[name] = value
                else:
                    missing.append((name, value))
        headers.extend(missing)
        return response
