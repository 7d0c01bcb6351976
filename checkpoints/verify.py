"""Verify a token offline at a gate: ``python -m checkpoints.verify --bundle bundle.json TOKEN``.

Prints the gate's view as JSON (decision, reason, color, masked holder name) and
exits 0 when admitted, 1 when refused, 2 on a bad bundle. Needs no server.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from .bundle import OfflineVerifier


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m checkpoints.verify", description=__doc__)
    parser.add_argument("--bundle", required=True, help="bundle JSON from /checkpoints/bundle")
    parser.add_argument("token", help="the token read from the QR ('-' reads standard input)")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, encoding="utf-8") as fh:
            verifier = OfflineVerifier.from_bundle(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"cannot read bundle: {exc}", file=sys.stderr)
        return 2
    token = sys.stdin.read().strip() if args.token == "-" else args.token  # noqa: S105
    decision = verifier.verify(token, datetime.now(UTC))
    print(json.dumps(decision.public(), ensure_ascii=False))
    return 0 if decision.admitted else 1


if __name__ == "__main__":
    sys.exit(main())
