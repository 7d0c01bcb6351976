"""QR images of tokens: error correction M, the smallest version that fits."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _code(data: str) -> qrcode.QRCode:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=4)
    qr.add_data(data.encode("ascii"))
    qr.make(fit=True)
    return qr


def qr_version(data: str) -> int:
    return _code(data).version


def qr_png(data: str) -> bytes:
    buf = io.BytesIO()
    _code(data).make_image().save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(data: str) -> bytes:
    buf = io.BytesIO()
    _code(data).make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buf)
    return buf.getvalue()
