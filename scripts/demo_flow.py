"""Walk through the foundation flow against a running server, over real HTTP.

    python scripts/demo_flow.py [--base-url http://127.0.0.1:5000] [--provider-secret hc_...]
                                [--registrar-secret hc_...]

Registers a citizen, has them verified at a service counter (the registrar hands over
a one-time code, which the citizen confirms), reports a healthy questionnaire (green), imports a
close-contact record (red, with that record in the reasons and the code turning
green 14 days after it), fetches a token and its QR PNG, decodes the PNG with a
real QR decoder and verifies the token against the published JWKS. Without the
secrets it reads the demo credentials written by ``flask seed-demo``.
"""

from __future__ import annotations

import argparse
import io
import json
import secrets
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import zxingcpp
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend.identity import with_check_digit  # noqa: E402


def _call(base: str, method: str, path: str, body=None, secret: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if secret:
        request.add_header("Authorization", f"Bearer {secret}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            raw, status = response.read(), response.status
            ctype = response.headers.get_content_type()
    except urllib.error.HTTPError as err:
        raise SystemExit(f"{method} {path} -> {err.code}: {err.read().decode()}") from None
    return status, (json.loads(raw) if ctype == "application/json" else raw)


def run(base: str, provider_secret: str, registrar_secret: str, log=print) -> dict:
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    id_number = with_check_digit(f"{secrets.randbelow(900000) + 100000}19880808"
                                 f"{secrets.randbelow(1000):03d}")
    status, reg = _call(base, "POST", "/api/v1/citizens", {
        "name": "Demo Person", "id_number": id_number, "phone": "13800000000",
        "region": "demo-city"})
    me = reg["token"]
    _, issued = _call(base, "POST", "/api/v1/registrar/verifications",
                      {"citizen_id": reg["citizen_id"], "id_number": id_number},
                      registrar_secret)
    _, verified = _call(base, "POST", "/api/v1/me/verification/confirm",
                        {"code": issued["code"]}, me)
    reg.update(verified)
    log(f"registered citizen {reg['citizen_id']} ({status}), verified at the counter")

    _, answer = _call(base, "POST", "/api/v1/me/questionnaires",
                      {"temperature_c": 36.6, "symptoms": [], "travel": []}, me)
    assert answer["code"]["color"] == "green", answer
    log("healthy questionnaire -> green")

    ref = f"DEMO-{secrets.token_hex(4)}"
    _, result = _call(base, "POST", "/api/v1/gov/records", {"records": [{
        "kind": "close_contact", "id_number": id_number, "occurred_at": occurred.isoformat(),
        "source": "demo-cdc", "ref": ref}]}, provider_secret)
    assert result["accepted"] == 1, result
    _, code = _call(base, "GET", "/api/v1/me/code", secret=me)
    assert code["color"] == "red", code
    fact = code["reasons"][0]["facts"][0]
    assert (fact["source"], fact["ref"]) == ("demo-cdc", ref), code
    turns_green = datetime.fromisoformat(code["turns_green_at"])
    assert turns_green == occurred + timedelta(days=14), code
    log(f"close-contact record {ref} -> red until {code['turns_green_at']}")

    _, issued = _call(base, "POST", "/api/v1/me/tokens", {}, me)
    _, png = _call(base, "GET", issued["qr_png"], secret=me)
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert decoded.text == issued["token"]
    log(f"token of {len(issued['token'])} bytes read back from its QR PNG")

    _, jwks = _call(base, "GET", "/.well-known/jwks.json")
    kid = jwt.get_unverified_header(decoded.text)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = jwt.decode(decoded.text, key, algorithms=["ES256"])
    # The token's sub is its own pseudonym: nothing a venue could link to the holder.
    assert claims["hc"] == "red" and claims["sub"] != reg["subject"]
    log(f"token verified against the JWKS (kid {kid}): color {claims['hc']}")
    return {"citizen": reg, "code": code, "token": issued, "claims": claims}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:5000")
    parser.add_argument("--provider-secret")
    parser.add_argument("--registrar-secret")
    args = parser.parse_args()
    provider, registrar = args.provider_secret, args.registrar_secret
    if not (provider and registrar):
        creds = json.loads((ROOT / "instance" / "demo-credentials.json").read_text())
        provider, registrar = provider or creds["data_provider"], registrar or creds["registrar"]
    run(args.base_url.rstrip("/"), provider, registrar)
    print("demo flow: all steps passed")


if __name__ == "__main__":
    main()
