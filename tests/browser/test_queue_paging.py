"""The console's appeals queue reads the paged ``GET /api/v1/appeals``: a first page, then
"More appeals" until the last, and a decision on a later page keeps the pages loaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.models import Role

from .browser_support import register

PAGE_SIZE = 25  # static/js/console/queue.js
APPEALS = PAGE_SIZE + 2


def _appeals_of_one_holder(app, client, provider, count: int) -> list[int]:
    app.config["APPEAL_MAX_OPEN"] = count
    secret, id_number = register(client, "Zhao Liu")
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    refs = [f"CC-{n:03d}" for n in range(count)]
    imported = client.post("/api/v1/gov/records", headers=provider, json={"records": [
        {"kind": "close_contact", "id_number": id_number, "occurred_at": occurred,
         "source": "city-cdc", "ref": ref} for ref in refs]})
    assert imported.status_code == 200, imported.json
    ids = []
    for ref in refs:
        filed = client.post("/api/v1/me/appeals", headers={"Authorization": f"Bearer {secret}"},
                            json={"target": "code", "target_id": f"city-cdc/{ref}",
                                  "reason": "That was not me."})
        assert filed.status_code == 201, filed.json
        ids.append(filed.json["id"])
    return ids


def test_console_pages_through_the_appeals_queue(browser, app, client, provider, operator):
    ids = _appeals_of_one_holder(app, client, provider, APPEALS)
    official = operator(Role.OFFICIAL)["Authorization"].split()[1]

    b = browser()
    b.open("/console")
    b.paste("#official-secret", official)
    b.click("#signin-form button[type=submit]")
    b.click('#tabs [data-tab="appeals"]')
    shown = ("return [...document.querySelectorAll('#queue article.appeal')]"
             ".map(a => +a.dataset.id);")
    b.wait(lambda d: len(b.js(shown)) == PAGE_SIZE, message="the first page")
    assert b.js(shown) == ids[:PAGE_SIZE]  # filed in turn: deadlines in that order
    b.visible("#queue-more")

    b.click("#queue-more")
    b.wait(lambda d: len(b.js(shown)) == APPEALS, message="the second page")
    assert b.js(shown) == ids
    b.gone("#queue-more")

    # Deciding the last one (from the second page) leaves every page in place.
    last = f'#queue article[data-id="{ids[-1]}"]'
    b.choose(f"{last} .decision-form select", "upheld")
    b.fill(f"{last} .decision-form input[name=note]", "The venue's list is right.")
    b.click(f"{last} .decision-form button[type=submit]")
    state = f"return document.querySelector('{last}').dataset.state;"  # re-rendered: no stale node
    b.wait(lambda d: b.js(state) == "upheld", message="the decision shown")
    assert sorted(b.js(shown)) == ids
    b.assert_clean()
