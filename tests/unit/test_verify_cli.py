"""The offline gate CLI: ``python -m checkpoints.verify --bundle bundle.json TOKEN``.

Each test writes a bundle the way ``/checkpoints/bundle`` serves it, signs a token with a
real key and runs the module in a fresh interpreter, as a gate without a server would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.keys import SigningKey, key_id, public_jwk
from backend.tokens import SignedToken, sign_code_token

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "https://hc.example.gov.cn"
SUBJECT = "subject-1"
HOLDER = "张*"


def _new_key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    return SigningKey(key_id(private.public_key()), private, datetime.now(UTC), None)


KEY = _new_key()


def make_bundle(*, changes: list[dict[str, Any]] | None = None,
                revoked: list[dict[str, Any]] | None = None,
                admits: tuple[str, ...] = ("green",)) -> dict[str, Any]:
    return {
        "issued_at": datetime.now(UTC).isoformat(),
        "keys": {ISSUER: {"keys": [public_jwk(KEY.private_key.public_key(), KEY.kid)]}},
        "status": {"changes": changes or [], "revoked": revoked or []},
        "status_cursor": "0",
        "policy": {"admits": list(admits), "category": "venue", "issuers": None,
                   "required_scope": None},
        "clock_skew_seconds": 5,
    }


def sign(color: str = "green") -> SignedToken:
    return sign_code_token(key=KEY, issuer=ISSUER, subject=SUBJECT, color=color,
                           display_name=HOLDER, now=datetime.now(UTC), lifetime_seconds=300)


def iat_ms(signed: SignedToken) -> int:
    return round(signed.issued_at.timestamp() * 1000)


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "checkpoints.verify", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, encoding="utf-8",
                          timeout=60, check=False)


@pytest.fixture
def write_bundle(tmp_path):
    def write(bundle: Any = None, *, raw: bytes | None = None) -> str:
        path = tmp_path / "bundle.json"
        if raw is None:
            raw = json.dumps(make_bundle() if bundle is None else bundle).encode()
        path.write_bytes(raw)
        return str(path)

    return write


def verdict(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- decisions


def test_good_token_is_admitted_with_exit_0(write_bundle):
    result = run("--bundle", write_bundle(), sign().token)

    assert result.returncode == 0, result.stderr
    assert verdict(result) == {"decision": "admit", "reason": "ok", "color": "green",
                               "holder": HOLDER}


def test_token_read_from_standard_input(write_bundle):
    result = run("--bundle", write_bundle(), "-", stdin=sign().token + "\n")

    assert result.returncode == 0, result.stderr
    assert verdict(result)["decision"] == "admit"


def test_code_changed_after_issue_is_refused_with_exit_1(write_bundle):
    signed = sign()
    bundle = make_bundle(changes=[{"iss": ISSUER, "sub": SUBJECT,
                                   "changed_ms": iat_ms(signed) + 1000}])

    result = run("--bundle", write_bundle(bundle), signed.token)

    assert result.returncode == 1, result.stderr
    assert verdict(result) == {"decision": "refuse", "reason": "code_changed", "color": "green",
                               "holder": HOLDER}
    assert SUBJECT not in result.stdout and signed.jti not in result.stdout


def test_code_changed_before_issue_is_still_admitted(write_bundle):
    signed = sign()
    bundle = make_bundle(changes=[{"iss": ISSUER, "sub": SUBJECT,
                                   "changed_ms": iat_ms(signed) - 1000}])

    result = run("--bundle", write_bundle(bundle), signed.token)

    assert result.returncode == 0, result.stderr


def _revoked(signed: SignedToken) -> tuple[dict[str, Any], str]:
    return make_bundle(revoked=[{"iss": ISSUER, "jti": signed.jti}]), signed.token


def _red_at_green_gate(signed: SignedToken) -> tuple[dict[str, Any], str]:
    return make_bundle(admits=("green",)), sign("red").token


def _zero_signature(signed: SignedToken) -> tuple[dict[str, Any], str]:
    head, body, _ = signed.token.split(".")
    return make_bundle(), f"{head}.{body}.{'A' * 86}"  # 64 zero bytes: r = s = 0


def _garbage(signed: SignedToken) -> tuple[dict[str, Any], str]:
    return make_bundle(), "not-a-token"


@pytest.mark.parametrize(("scenario", "reason"), [
    pytest.param(_revoked, "code_changed", id="revoked-jti"),
    pytest.param(_red_at_green_gate, "color_not_admitted", id="red-at-green-gate"),
    pytest.param(_zero_signature, "bad_signature", id="zero-signature"),
    pytest.param(_garbage, "malformed", id="garbage"),
])
def test_refusals_exit_1_with_a_reason(write_bundle, scenario, reason):
    bundle, token = scenario(sign())

    result = run("--bundle", write_bundle(bundle), token)

    assert result.returncode == 1, result.stderr
    assert verdict(result)["decision"] == "refuse"
    assert verdict(result)["reason"] == reason


# --------------------------------------------------------------------------- bad bundles


def _bundle_without(name: str) -> dict[str, Any]:
    bundle = make_bundle()
    del bundle[name]
    return bundle


@pytest.mark.parametrize(("bundle", "raw"), [
    pytest.param(None, b"", id="empty-file"),
    pytest.param(None, b"{not json", id="not-json"),
    pytest.param(None, b"\xff\xfe\x00{", id="not-utf8"),
    pytest.param(_bundle_without("keys"), None, id="keys-missing"),
    pytest.param(_bundle_without("policy"), None, id="policy-missing"),
    pytest.param({**make_bundle(), "policy": {"admits": 5}}, None, id="policy-admits-int"),
    pytest.param({**make_bundle(), "clock_skew_seconds": "soon"}, None, id="skew-not-int"),
    pytest.param({**make_bundle(), "status": {"changes": [{"iss": ISSUER}]}}, None,
                 id="change-without-fields"),
    pytest.param([], None, id="json-array"),
    pytest.param(None, b"null", id="json-null"),
    pytest.param({**make_bundle(), "keys": []}, None, id="keys-as-list"),
])
def test_unreadable_bundle_exits_2(write_bundle, bundle, raw):
    result = run("--bundle", write_bundle(bundle, raw=raw), sign().token)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "cannot read bundle" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("bad_jwks", [
    pytest.param({"keys": ["a", 1, None]}, id="keys-not-objects"),
    pytest.param({"keys": [{**public_jwk(_new_key().private_key.public_key(), "x"),
                            "kid": ["evil1"]}]}, id="kid-a-list"),
    pytest.param("not a jwks", id="jwks-a-string"),
])
def test_one_issuers_bad_keys_in_a_bundle_leave_the_others_working(write_bundle, bad_jwks):
    bundle = make_bundle()
    bundle["keys"]["https://bad.example"] = bad_jwks

    result = run("--bundle", write_bundle(bundle), sign().token)

    assert result.returncode == 0, result.stderr
    assert verdict(result)["decision"] == "admit"


def test_missing_bundle_file_exits_2(tmp_path):
    result = run("--bundle", str(tmp_path / "nowhere.json"), sign().token)

    assert result.returncode == 2
    assert "cannot read bundle" in result.stderr


def test_missing_bundle_option_is_a_usage_error():
    result = run(sign().token)

    assert result.returncode == 2
    assert "--bundle" in result.stderr


# --------------------------------------------------------------------------- no server needed


def test_importing_the_cli_loads_neither_flask_nor_a_database():
    code = ("import sys, checkpoints.verify\n"
            "loaded = [m for m in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'backend')\n"
            "          if m in sys.modules]\n"
            "assert 'flask' not in sys.modules and 'sqlalchemy' not in sys.modules, loaded\n"
            "print(loaded)\n")

    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_whole_scan_runs_with_flask_and_sqlalchemy_unimportable(write_bundle):
    """Blocking the imports proves no code path of a scan reaches for the server stack."""
    code = ("import runpy, sys\n"
            "for name in ('flask', 'sqlalchemy', 'flask_sqlalchemy', 'redis'):\n"
            "    sys.modules[name] = None\n"
            "sys.argv = ['verify', '--bundle', sys.argv[1], sys.argv[2]]\n"
            "runpy.run_module('checkpoints.verify', run_name='__main__')\n")

    result = subprocess.run([sys.executable, "-c", code, write_bundle(), sign().token],
                            cwd=ROOT, capture_output=True, text=True, encoding="utf-8",
                            timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["decision"] == "admit"
