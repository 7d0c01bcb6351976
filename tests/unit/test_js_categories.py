"""The browser's copies of the checkpoint categories match the health side's.

The gate's offline verifier (static/js/lib/verifier.js) and the console's checkpoint form
(static/js/console/checkpoints.js) run in the browser and cannot import Python, so they
hold their own lists: these tests read them from the source and fail when they drift.
"""

import re
from pathlib import Path

from backend.models.checkpoints import CATEGORIES
from checkpoints.verifier import RESTRICTABLE

STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"


def js_strings(path: Path, pattern: str) -> list[str]:
    """The quoted strings of the one array literal ``pattern`` captures in ``path``."""
    found = re.findall(pattern, path.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{path.name}: expected one match of {pattern!r}, found {len(found)}"
    return re.findall(r"""['"]([^'"]*)['"]""", found[0])


def test_the_offline_verifier_restricts_the_travel_categories():
    listed = js_strings(STATIC_JS / "lib" / "verifier.js",
                        r"export const RESTRICTABLE = new Set\(\[([^\]]*)\]\)")
    assert sorted(listed) == sorted(RESTRICTABLE), (
        f"static/js/lib/verifier.js RESTRICTABLE {sorted(listed)} differs from "
        f"checkpoints.verifier.RESTRICTABLE {sorted(RESTRICTABLE)}: change both")


def test_the_console_offers_the_checkpoint_categories_in_the_api_order():
    listed = js_strings(STATIC_JS / "console" / "checkpoints.js",
                        r"export const CATEGORIES = \[([^\]]*)\]")
    assert listed == list(CATEGORIES), (
        f"static/js/console/checkpoints.js CATEGORIES {listed} differs from "
        f"backend.models.checkpoints.CATEGORIES {list(CATEGORIES)}: change both")
