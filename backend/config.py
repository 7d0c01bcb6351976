"""Configuration read from the environment, with safe embedded defaults.

With no environment at all the service runs on SQLite files and an in-process
Redis stand-in under ``instance/``; production sets the URLs below.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .outbound import parse_networks


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return int(raw)


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off")


def _sqlalchemy_url(url: str) -> str:
    # Operators paste libpq-style URLs; SQLAlchemy needs the driver named.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _limiter_storage(redis_url: str) -> str:
    """The ``limits`` package's name for the same Redis (a Unix socket is ``redis+unix://``);
    without one, counters in process memory (the embedded default)."""
    if not redis_url:
        return "memory://"
    if redis_url.startswith("unix://"):
        return "redis+" + redis_url
    return redis_url


class ConfigError(RuntimeError):
    """A setting that would make the service unsafe or broken: the app refuses to start."""


class Config:
    """Settings for a deployment; every value can come from the environment."""

    def __init__(self, instance_path: str | os.PathLike[str] | None = None) -> None:
        root = Path(__file__).resolve().parent.parent
        self.INSTANCE_PATH = str(
            Path(instance_path or os.environ.get("INSTANCE_PATH", root / "instance")).resolve()
        )
        inst = Path(self.INSTANCE_PATH)
        self.SQLALCHEMY_DATABASE_URI = _sqlalchemy_url(
            os.environ.get("DATABASE_URL") or f"sqlite:///{inst / 'health.sqlite3'}"
        )
        # A bind given as a dict: Flask-SQLAlchemy applies SQLALCHEMY_ENGINE_OPTIONS only
        # to the default engine, and the credit store must survive a restart too.
        self.SQLALCHEMY_BINDS = {
            "credit": {
                "url": _sqlalchemy_url(
                    os.environ.get("CREDIT_DATABASE_URL")
                    or f"sqlite:///{inst / 'credit.sqlite3'}"
                ),
                "pool_pre_ping": True,
                "hide_parameters": True,
            }
        }
        # hide_parameters: a database error's message never carries the values bound to
        # the statement (ID hashes, names, reasons), so no log or traceback shows them.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
        # How long a statement waits for a row another transaction holds (PostgreSQL).
        # An evaluation locks the person's stored code, and a publish holds a whole
        # region's until it commits: past this wait the request answers 503 (nothing
        # stored, retry) instead of holding a worker for the rest of the publish.
        self.DB_LOCK_TIMEOUT_MS = int(os.environ.get("DB_LOCK_TIMEOUT_MS", "3000"))
        self.SQLALCHEMY_TRACK_MODIFICATIONS = False
        # "production" refuses settings that only suit a laptop: TRUST_ALLOW_HTTP here,
        # messages left to the outbox (backend/notifier).
        self.APP_ENV = os.environ.get("APP_ENV", "development").strip().lower()
        # Empty means the in-process stand-in (fakeredis): fine for one process only.
        self.REDIS_URL = os.environ.get("REDIS_URL", "")
        self.SIGNING_KEY_DIR = os.environ.get("SIGNING_KEY_DIR") or str(inst / "keys")
        self.SECRET_KEY_PATH = os.environ.get("SECRET_KEY_PATH") or str(inst / "secret.key")
        # Keyed hashing of ID numbers and pseudonyms; read from SECRET_KEY_PATH when unset.
        self.PSEUDONYM_KEY = os.environ.get("PSEUDONYM_KEY", "")
        self.ISSUER_ID = os.environ.get("ISSUER_ID", "hc-local")
        # Trust list: how long a worker reuses the trusted keys it read, and how long a
        # JWKS fetch may take before the last good copy is kept.
        self.TRUST_CACHE_SECONDS = _env_int("TRUST_CACHE_SECONDS", 10)
        self.JWKS_FETCH_TIMEOUT_SECONDS = _env_int("JWKS_FETCH_TIMEOUT_SECONDS", 5)
        # JWKS over plain http: only on the embedded default (a demo on one machine).
        self.TRUST_ALLOW_HTTP = _env_flag(
            "TRUST_ALLOW_HTTP",
            not os.environ.get("DATABASE_URL") and self.APP_ENV != "production")
        if self.TRUST_ALLOW_HTTP and self.APP_ENV == "production":
            raise ConfigError("TRUST_ALLOW_HTTP cannot be on with APP_ENV=production")
        # Networks a JWKS fetch may reach although they are loopback or private
        # (comma-separated CIDR); empty: only public addresses.
        self.TRUST_FETCH_ALLOW = os.environ.get("TRUST_FETCH_ALLOW", "")
        parse_networks(self.TRUST_FETCH_ALLOW)  # a bad value stops the start, not a fetch
        self.TOKEN_LIFETIME_SECONDS = _env_int("TOKEN_LIFETIME_SECONDS", 300)
        self.CLOCK_SKEW_SECONDS = _env_int("CLOCK_SKEW_SECONDS", 300)
        self.QUESTIONNAIRE_MAX_AGE_DAYS = _env_int("QUESTIONNAIRE_MAX_AGE_DAYS", 14)
        self.IMPORT_MAX_RECORDS = _env_int("IMPORT_MAX_RECORDS", 5000)
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 4 * 1024 * 1024)
        self.DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "UTC")
        # Checkpoints.
        self.REPLAY_WINDOW_SECONDS = _env_int("REPLAY_WINDOW_SECONDS", 600)
        self.VERIFIER_CLOCK_SKEW_SECONDS = _env_int("VERIFIER_CLOCK_SKEW_SECONDS", 5)
        self.DEVICE_AUTH_CACHE_SECONDS = _env_int("DEVICE_AUTH_CACHE_SECONDS", 30)
        self.POLICY_CACHE_SECONDS = _env_int("POLICY_CACHE_SECONDS", 30)
        # Gates refuse (``expired``) any token, ours or a trusted issuer's, whose
        # ``exp - iat`` is longer than this; it must not be below our own lifetime.
        self.MAX_TOKEN_LIFETIME_SECONDS = _env_int("MAX_TOKEN_LIFETIME_SECONDS",
                                                   4 * self.TOKEN_LIFETIME_SECONDS)
        if self.MAX_TOKEN_LIFETIME_SECONDS < self.TOKEN_LIFETIME_SECONDS:
            raise ValueError("MAX_TOKEN_LIFETIME_SECONDS must be at least "
                             "TOKEN_LIFETIME_SECONDS, or our own tokens would be refused")
        # How long the server stands by an offline bundle: uploaded offline scans may
        # go back no further than the device's last bundle download minus this.
        self.BUNDLE_VALIDITY_HOURS = _env_int("BUNDLE_VALIDITY_HOURS", 24)
        # "stream": scans go to a Redis stream drained by `flask drain-checkins`;
        # "database": written synchronously (the default without a real Redis).
        self.CHECKIN_SINK = os.environ.get("CHECKIN_SINK") or (
            "stream" if self.REDIS_URL else "database"
        )
        # Colors a travel pass may be issued for.
        self.TRAVEL_ADMITS = tuple(os.environ.get("TRAVEL_ADMITS", "green").split(","))
        self.TRACING_WINDOW_MINUTES = _env_int("TRACING_WINDOW_MINUTES", 60)
        # Retention, enforced by `flask purge-expired`.
        self.CHECKIN_RETENTION_DAYS = _env_int("CHECKIN_RETENTION_DAYS", 28)
        self.QUESTIONNAIRE_RETENTION_DAYS = _env_int("QUESTIONNAIRE_RETENTION_DAYS", 28)
        self.CODE_HISTORY_RETENTION_DAYS = _env_int("CODE_HISTORY_RETENTION_DAYS", 28)
        # Registrations nobody verified (and frozen ones): their name and phone go then.
        self.REGISTRATION_RETENTION_DAYS = _env_int("REGISTRATION_RETENTION_DAYS", 28)
        self.APPEAL_DEADLINE_DAYS = _env_int("APPEAL_DEADLINE_DAYS", 3)
        # Open appeals one holder may have at once (one per record or restriction).
        self.APPEAL_MAX_OPEN = _env_int("APPEAL_MAX_OPEN", 3)
        self.TESTING = False

        # The notifier (backend/notifier): each channel goes to its configured transport,
        # else to the outbox file that `flask outbox` prints.
        self.NOTIFY_OUTBOX_PATH = os.environ.get("NOTIFY_OUTBOX_PATH") or str(inst / "outbox.jsonl")
        self.NOTIFY_TIMEOUT_SECONDS = _env_int("NOTIFY_TIMEOUT_SECONDS", 10)
        self.NOTIFY_SMTP_HOST = os.environ.get("NOTIFY_SMTP_HOST", "")
        self.NOTIFY_SMTP_PORT = _env_int("NOTIFY_SMTP_PORT", 587)
        self.NOTIFY_SMTP_FROM = os.environ.get("NOTIFY_SMTP_FROM", "")
        self.NOTIFY_SMTP_USER = os.environ.get("NOTIFY_SMTP_USER", "")
        self.NOTIFY_SMTP_PASSWORD = os.environ.get("NOTIFY_SMTP_PASSWORD", "")
        self.NOTIFY_SMTP_STARTTLS = _env_flag("NOTIFY_SMTP_STARTTLS", True)
        self.NOTIFY_SMS_EMAIL_DOMAIN = os.environ.get("NOTIFY_SMS_EMAIL_DOMAIN", "")
        self.NOTIFY_SMS_WEBHOOK_URL = os.environ.get("NOTIFY_SMS_WEBHOOK_URL", "")
        self.NOTIFY_SMS_WEBHOOK_TOKEN = os.environ.get("NOTIFY_SMS_WEBHOOK_TOKEN", "")

        # Rate limits (the ``limits`` package's syntax); counted in Redis when it is configured.
        self.RATELIMIT_ENABLED = os.environ.get("RATELIMIT_ENABLED", "1") not in ("0", "false")
        self.RATELIMIT_STORAGE_URI = _limiter_storage(self.REDIS_URL)
        self.RATE_LIMIT_FAILED_AUTH = os.environ.get("RATE_LIMIT_FAILED_AUTH", "30/minute")
        self.RATE_LIMIT_REGISTRATION = os.environ.get("RATE_LIMIT_REGISTRATION",
                                                      "20/minute;500/day")
        self.RATE_LIMIT_TOKENS = os.environ.get("RATE_LIMIT_TOKENS", "60/minute")
        # A person reports a few times a day; every report re-reads all of the last 28
        # days', so an unbounded stream of them would make one's own evaluations slow.
        self.RATE_LIMIT_QUESTIONNAIRES = os.environ.get("RATE_LIMIT_QUESTIONNAIRES",
                                                        "10/minute;100/day")
        self.RATE_LIMIT_SCANS = os.environ.get("RATE_LIMIT_SCANS", "1200/minute")
        self.RATE_LIMIT_VERIFICATION_REQUESTS = os.environ.get(
            "RATE_LIMIT_VERIFICATION_REQUESTS", "3/10minute;10/day")
        self.RATE_LIMIT_VERIFICATION_ATTEMPTS = os.environ.get(
            "RATE_LIMIT_VERIFICATION_ATTEMPTS", "10/10minute;30/day")
        # Texts for one ID number, each kind apart (codes, registration notices), from
        # every registration together: bounds guessing and texting someone at will.
        self.RATE_LIMIT_TEXTS_PER_PERSON = os.environ.get(
            "RATE_LIMIT_TEXTS_PER_PERSON", "5/hour;10/day")

        # flask-smorest: the OpenAPI document is the reference for clients.
        self.API_TITLE = "Health code and check-in API"
        self.API_VERSION = "v1"
        self.OPENAPI_VERSION = "3.0.3"
        self.OPENAPI_URL_PREFIX = "/api/v1"
        self.OPENAPI_JSON_PATH = "openapi.json"
        self.API_SPEC_OPTIONS = {
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}
            },
            "security": [{"bearer": []}],
        }

    def as_mapping(self) -> dict[str, object]:
        mapping = {k: v for k, v in vars(self).items() if k.isupper()}
        if self.SQLALCHEMY_DATABASE_URI.startswith("postgresql") and self.DB_LOCK_TIMEOUT_MS:
            mapping["SQLALCHEMY_ENGINE_OPTIONS"] = {
                **self.SQLALCHEMY_ENGINE_OPTIONS,
                "connect_args": {"options": f"-c lock_timeout={int(self.DB_LOCK_TIMEOUT_MS)}"},
            }
        return mapping


class TestConfig(Config):
    """Tests: a throw-away instance folder; URLs still come from the environment."""

    __test__ = False  # not a pytest test class

    def __init__(self, instance_path: str | os.PathLike[str]) -> None:
        super().__init__(instance_path)
        self.TESTING = True
        # The tests' issuers serve their keys over http on 127.0.0.1 (allowed per test).
        self.TRUST_ALLOW_HTTP = self.APP_ENV != "production"
        # Tests register hundreds of people from one address; the limit tests opt in.
        self.RATELIMIT_ENABLED = False
        # Messages go to an outbox, whatever the environment says: a test never sends
        # anything anywhere (the notifier's own tests set transports). One outbox per
        # config, since a test session shares one instance folder among its apps.
        self.NOTIFY_OUTBOX_PATH = str(
            Path(self.INSTANCE_PATH) / f"outbox-{secrets.token_hex(6)}.jsonl")
        self.NOTIFY_SMTP_HOST = ""
        self.NOTIFY_SMS_EMAIL_DOMAIN = ""
        self.NOTIFY_SMS_WEBHOOK_URL = ""
