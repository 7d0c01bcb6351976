"""The deployment's signing keys (ES256) on disk, their rotation and the published JWKS.

Layout of the key directory: ``manifest.json`` lists every key with its creation
and retirement time; ``<kid>.pem`` holds each private key (mode 0600). The
newest unretired key signs. A retired key's public half stays in the JWKS until
every token it signed has expired. Workers notice a rotation by the manifest's
modification time, so ``flask rotate-keys`` needs no restart; they look at it at
most every ``MANIFEST_CHECK_SECONDS``, since scans read the keys on every request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

MANIFEST_CHECK_SECONDS = 1.0


def make_private_dir(path: Path) -> None:
    """Make the directory ``path`` (mode 0700, whatever the umask) if it is missing, or
    narrow it to 0700 if it is ours and open to others: it holds keys or databases.

    Narrowing is best effort: a read-only mount (a production image whose state is
    elsewhere) must still start.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.stat()
    if found.st_mode & 0o077 and found.st_uid == os.getuid():
        with contextlib.suppress(OSError):
            path.chmod(0o700)


def create_file_once(path: Path, data: bytes) -> bool:
    """Put ``data`` at ``path`` (mode 0600) unless a file is there; False if one was.

    The file appears whole or not at all: it is written under a private name and
    hard-linked into place, so a worker racing to create the same file either
    wins or reads the winner's complete file, never an empty one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
        "use": "sig",
        "alg": "ES256",
        "kid": kid,
    }


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The first 32 bits of the RFC 7638 thumbprint: short, so tokens stay small.

    Verifiers look keys up by (issuer, kid), so a kid only needs to be unique
    among one issuer's few live keys.
    """
    jwk = public_jwk(public_key, "")
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return _b64(hashlib.sha256(canonical.encode()).digest()[:4])


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    created_at: datetime
    retired_at: datetime | None


class KeyRing:
    def __init__(self, directory: str | os.PathLike[str], token_lifetime_seconds: int) -> None:
        self.directory = Path(directory)
        self.token_lifetime = timedelta(seconds=token_lifetime_seconds)
        self._lock = threading.Lock()
        self._loaded_mtime: int | None = None
        self._checked_at = 0.0  # time.monotonic() of the last look at the manifest
        self._keys: list[SigningKey] = []

    @property
    def _manifest(self) -> Path:
        return self.directory / "manifest.json"

    @staticmethod
    def _manifest_text(keys: list[SigningKey]) -> str:
        entries = [
            {
                "kid": k.kid,
                "created_at": k.created_at.isoformat(),
                "retired_at": k.retired_at.isoformat() if k.retired_at else None,
            }
            for k in keys
        ]
        return json.dumps({"keys": entries}, indent=2)

    def _write_manifest(self, keys: list[SigningKey]) -> None:
        tmp = self._manifest.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self._manifest_text(keys))
        os.replace(tmp, self._manifest)

    def _create_first_key(self) -> None:
        """The first key of a new directory; if another worker makes one first, use theirs."""
        make_private_dir(self.directory)
        key = self._new_key(datetime.now(UTC))
        if not create_file_once(self._manifest, self._manifest_text([key]).encode()):
            (self.directory / f"{key.kid}.pem").unlink(missing_ok=True)

    def _new_key(self, now: datetime) -> SigningKey:
        private = ec.generate_private_key(ec.SECP256R1())
        kid = key_id(private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.directory / f"{kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return SigningKey(kid, private, now, None)

    def _load(self) -> list[SigningKey]:
        checked = time.monotonic()
        if self._loaded_mtime is not None and checked - self._checked_at < MANIFEST_CHECK_SECONDS:
            return self._keys
        self._checked_at = checked
        try:
            mtime = self._manifest.stat().st_mtime_ns
        except FileNotFoundError:
            self._create_first_key()
            mtime = self._manifest.stat().st_mtime_ns
        if mtime == self._loaded_mtime:
            return self._keys
        keys = []
        for entry in json.loads(self._manifest.read_text())["keys"]:
            pem = (self.directory / f"{entry['kid']}.pem").read_bytes()
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise ValueError(f"key {entry['kid']} is not an EC key")
            retired = entry.get("retired_at")
            keys.append(
                SigningKey(
                    entry["kid"],
                    private,
                    datetime.fromisoformat(entry["created_at"]),
                    datetime.fromisoformat(retired) if retired else None,
                )
            )
        self._keys, self._loaded_mtime = keys, mtime
        return keys

    def active(self) -> SigningKey:
        with self._lock:
            keys = self._load()
        live = [k for k in keys if k.retired_at is None]
        if not live:
            raise RuntimeError("no active signing key; run 'flask rotate-keys'")
        return live[-1]

    def published(self, now: datetime) -> list[SigningKey]:
        """Keys whose tokens may still be valid: unretired, or retired less than a lifetime ago."""
        with self._lock:
            keys = self._load()
        return [k for k in keys if k.retired_at is None or k.retired_at + self.token_lifetime > now]

    def jwks(self, now: datetime) -> dict[str, list[dict[str, str]]]:
        keys = self.published(now)
        return {"keys": [public_jwk(k.private_key.public_key(), k.kid) for k in keys]}

    def withdraw(self, kid: str) -> None:
        """Stop publishing ``kid`` at once (a compromised key): its tokens stop verifying."""
        with self._lock:
            keys = self._load()
            if kid not in {k.kid for k in keys}:
                raise KeyError(kid)
            if all(k.kid == kid or k.retired_at is not None for k in keys):
                raise ValueError("rotate first: the active key cannot be withdrawn")
            self._write_manifest([k for k in keys if k.kid != kid])
            (self.directory / f"{kid}.pem").unlink(missing_ok=True)
            self._loaded_mtime = None

    def rotate(self, now: datetime) -> SigningKey:
        """Start signing with a new key; the old ones retire now and are dropped once expired."""
        with self._lock:
            keys = self._load()
            fresh = self._new_key(now)
            kept = []
            for k in keys:
                if k.retired_at is not None and k.retired_at + self.token_lifetime <= now:
                    (self.directory / f"{k.kid}.pem").unlink(missing_ok=True)
                else:
                    kept.append(SigningKey(k.kid, k.private_key, k.created_at, k.retired_at or now))
            self._write_manifest([*kept, fresh])
            self._loaded_mtime = None
        return fresh
