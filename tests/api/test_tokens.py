"""Signed QR tokens: verifiable with the published keys, small, and free of identity data."""

import io
import json

import jwt
import zxingcpp
from PIL import Image

from backend.qr import qr_version


def _token(client, headers, **body):
    response = client.post("/api/v1/me/tokens", headers=headers, json=body)
    assert response.status_code == 201, response.json
    return response.json


def _verify(client, token):
    jwks = client.get("/.well-known/jwks.json").json
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk).key
    return jwt.decode(token, key, algorithms=["ES256"], issuer="hc-local")


def test_token_verifies_against_the_jwks(client, citizen):
    headers, _, body = citizen()
    issued = _token(client, headers)
    claims = _verify(client, issued["token"])
    # sub is this token's own pseudonym, never the holder's stored subject.
    assert len(claims["sub"]) == len(body["subject"]) and claims["sub"] != body["subject"]
    assert claims["hc"] == issued["color"] == "green"
    assert 299 < claims["exp"] - claims["iat"] <= 300
    assert set(claims) == {"iss", "sub", "iat", "exp", "jti", "hc", "nm"}
    assert jwt.get_unverified_header(issued["token"])["alg"] == "ES256"


def test_token_holds_no_identity_data_and_fits_a_small_qr(client, citizen):
    headers, id_number, _ = citizen(name="Alexandra Konstantinopoulou", phone="+8613912345678")
    token = _token(client, headers)["token"]
    payload = json.dumps(jwt.decode(token, options={"verify_signature": False}), ensure_ascii=False)
    for secret in (id_number, id_number[-6:], "Alexandra", "Konstantinopoulou", "13912345678"):
        assert secret not in payload
    assert len(token.encode()) <= 300
    assert qr_version(token) <= 13


def test_qr_png_decodes_back_to_the_token(client, citizen):
    headers, _, _ = citizen()
    issued = _token(client, headers)
    png = client.get(issued["qr_png"], headers=headers)
    assert png.status_code == 200 and png.mimetype == "image/png"
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.text == issued["token"]
    assert decoded.format == zxingcpp.BarcodeFormat.QRCode
    svg = client.get(issued["qr_svg"], headers=headers)
    assert svg.status_code == 200 and svg.data.lstrip().startswith(b"<?xml")


def test_another_citizens_token_image_is_not_found(client, citizen):
    owner, _, _ = citizen()
    other, _, _ = citizen()
    issued = _token(client, owner)
    assert client.get(issued["qr_png"], headers=other).status_code == 404
    assert client.get(issued["qr_png"]).status_code == 401


def test_red_code_token_says_red(client, citizen, provider):
    headers, id_number, _ = citizen()
    client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": "confirmed_case", "id_number": id_number,
        "occurred_at": "2026-11-20T08:00:00+08:00", "source": "cdc", "ref": "X1"}]})
    token = _token(client, headers)["token"]
    assert _verify(client, token)["hc"] == "red"


def test_rotation_signs_with_a_new_key_and_keeps_the_old_one_published(client, citizen, runner):
    headers, _, _ = citizen()
    old = _token(client, headers)["token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    result = runner.invoke(args=["rotate-keys"])
    assert result.exit_code == 0, result.output
    new = _token(client, headers)["token"]
    new_kid = jwt.get_unverified_header(new)["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert {old_kid, new_kid} <= kids
    assert _verify(client, old)["hc"] == _verify(client, new)["hc"]


def test_jwks_drops_retired_keys_once_their_tokens_expired(app):
    from datetime import UTC, datetime, timedelta

    ring = app.extensions["keyring"]
    t0 = datetime.now(UTC)
    first = ring.active().kid
    ring.rotate(t0)
    kids_now = {k["kid"] for k in ring.jwks(t0)["keys"]}
    kids_later = {k["kid"] for k in ring.jwks(t0 + timedelta(seconds=301))["keys"]}
    assert first in kids_now
    assert first not in kids_later
    assert ring.active().kid in kids_later
