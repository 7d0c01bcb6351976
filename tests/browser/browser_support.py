"""What the browser tests set up outside the browser: people, records, QR pictures, videos."""

from __future__ import annotations

import io
import json
import secrets
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import zxingcpp
from conftest import register_verified
from PIL import Image

from backend.identity import with_check_digit

Y4M_SIZE = (640, 480)
Y4M_FRAMES = 4


def new_id_number() -> str:
    """A valid ID number nobody else in the test database has."""
    return with_check_digit(f"{secrets.randbelow(900000) + 100000}19900101"
                            f"{secrets.randbelow(1000):03d}")


def register(client, name: str = "张三", region: str = "r1") -> tuple[str, str]:
    """(bearer secret, ID number) of a newly registered citizen, verified at a counter."""
    headers, id_number, _ = register_verified(client.application, client, name=name,
                                              id_number=new_id_number(), region=region)
    return headers["Authorization"].split()[1], id_number


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def healthy(client, secret: str) -> None:
    answer = client.post("/api/v1/me/questionnaires", headers=auth(secret),
                         json={"temperature_c": 36.6, "symptoms": [], "travel": []})
    assert answer.status_code == 201 and answer.json["code"]["color"] == "green", answer.json


def import_record(client, provider: dict, id_number: str, kind: str = "close_contact",
                  ref: str | None = None) -> str:
    ref = ref or f"CC-{secrets.token_hex(4)}"
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    answer = client.post("/api/v1/gov/records", headers=provider, json={"records": [{
        "kind": kind, "id_number": id_number, "occurred_at": occurred.isoformat(),
        "source": "city-cdc", "ref": ref}]})
    assert answer.status_code == 200 and answer.json["accepted"] == 1, answer.json
    return ref


def token_with_qr(client, secret: str) -> tuple[str, bytes]:
    """A fresh token of the holder and the PNG of its QR, as the service draws it."""
    issued = client.post("/api/v1/me/tokens", headers=auth(secret), json={})
    assert issued.status_code == 201, issued.json
    png = client.get(issued.json["qr_png"], headers=auth(secret))
    assert png.status_code == 200
    return issued.json["token"], png.data


def checkpoint_device(client, official: dict, admits=("green",), category: str = "venue"
                      ) -> str:
    """The bearer secret of a scanning device at a new checkpoint of region r1."""
    made = client.post("/api/v1/checkpoints", headers=official, json={
        "name": "City library", "category": category, "region": "r1", "admits": list(admits)})
    assert made.status_code == 201, made.json
    device = client.post(f"/api/v1/checkpoints/{made.json['checkpoint_id']}/devices",
                         headers=official, json={})
    assert device.status_code == 201, device.json
    return device.json["token"]


def decode_qr(png: bytes) -> list[str]:
    """Every QR code a real decoder (zxing-cpp) finds in a picture."""
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
            if r.format == zxingcpp.BarcodeFormat.QRCode]


def verify_with_jwks(base: str, token: str) -> dict:
    """The token's claims, checked against the keys the service publishes."""
    jwks = http_json(base, "GET", "/.well-known/jwks.json")
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    return jwt.decode(token, key, algorithms=["ES256"])


def write_y4m(png: bytes, path: Path) -> Path:
    """A few 640x480 I420 frames of the QR on white: what Chromium's fake camera plays."""
    width, height = Y4M_SIZE
    qr = Image.open(io.BytesIO(png)).convert("L")
    side = min(height - 40, qr.width)
    qr = qr.resize((side, side), Image.NEAREST)
    frame = Image.new("L", Y4M_SIZE, 255)
    frame.paste(qr, ((width - side) // 2, (height - side) // 2))
    luma = frame.tobytes()
    chroma = bytes([128]) * (width // 2 * height // 2)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(Y4M_FRAMES):
            out.write(b"FRAME\n" + luma + chroma + chroma)
    return path


def http_json(base: str, method: str, path: str, body=None, secret: str | None = None):
    """A JSON call to the live server, as a client outside the browser would make it."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if secret:
        request.add_header("Authorization", f"Bearer {secret}")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        raw = response.read()
        if response.headers.get_content_type() == "application/json":
            return json.loads(raw)
        return raw
