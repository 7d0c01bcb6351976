"""The three pages in headless Chromium: the citizen's code, the checkpoint scanner and the
officials' console, against the app served on 127.0.0.1.

Every test ends with no browser console error and no Content-Security-Policy violation
(``b.assert_clean()``, checked again when the browser fixture closes). Screenshots of each
page at 360 px and at desktop width go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import CheckIn, Role, ScanReceipt
from backend.notifier import read_outbox

from .browser_support import (
    checkpoint_device,
    decode_qr,
    healthy,
    import_record,
    new_id_number,
    register,
    token_with_qr,
    verify_with_jwks,
    write_y4m,
)

QR_LOADED = ("const i = document.querySelector('#qr');"
             "return !i.hidden && i.complete && i.naturalWidth > 0 ? i.dataset.jti : null;")


def offered(client, route: str) -> bool:
    method, path = route.split(" ", 1)
    doc = client.get("/api/v1/openapi.json").json
    return method.lower() in doc["paths"].get(path, {})


def qr_from_screen(b) -> tuple[str, str]:
    """(jti shown, token read back from a screenshot of the page by zxing-cpp)."""
    jti = b.wait(lambda d: b.js(QR_LOADED), message="QR image loaded")
    b.js("document.querySelector('#qr').scrollIntoView({block: 'center'})")
    texts = decode_qr(b.driver.get_screenshot_as_png())
    assert len(texts) == 1, texts
    return jti, texts[0]


# -- the citizen's page ---------------------------------------------------------------------

def test_citizen_registers_reports_shows_green_qr_then_turns_red(browser, live_server, client,
                                                                  provider, registry, app):
    b = browser(mobile=True)
    # The wrong answers below are refused by the service, and an unverified registration
    # is answered 403 until it is verified.
    b.allowed_statuses = {403, 422}
    b.open("/")
    id_number = new_id_number()
    phone = "139" + f"{secrets.randbelow(10**8):08d}"
    answer = client.post("/api/v1/gov/records", headers=registry, json={"records": [{
        "kind": "identity", "id_number": id_number, "source": "police",
        "ref": f"ID-{secrets.token_hex(4)}", "occurred_at": "2026-01-01T00:00:00+00:00",
        "detail": {"phone": phone}}]})
    assert answer.json["accepted"] == 1, answer.json
    b.fill("#reg-name", "张三")
    b.fill("#reg-id", id_number)
    b.fill("#reg-phone", "138-0013")
    b.fill("#reg-region", "r1")
    b.click("#register-form button[type=submit]")
    # The service's own message, next to the field it names.
    b.text_has('#register-form [data-field="phone"] .field-error', "6-15 digits")
    b.fill("#reg-phone", phone)
    b.click("#register-form button[type=submit]")
    # Identity before data: nothing is shown until the phone on record gets a code.
    b.visible("#verify")
    b.screenshot("citizen-verify-360")
    assert b.find("#app").is_displayed() is False
    assert b.find("#verify-number").text.isdigit()
    b.fill("#verify-code", "12")
    b.click("#verify-form button[type=submit]")
    b.text_has('#verify-form [data-field="code"] .field-error', "6 digits")
    b.click("#verify-sms")
    b.text_has("#verify-status", "code is on its way")
    sent = [m for m in read_outbox(app.config["NOTIFY_OUTBOX_PATH"]) if m["to"] == phone]
    code = next(w.rstrip(".") for w in sent[-1]["body"].split() if w.rstrip(".").isdigit())
    b.fill("#verify-code", code)
    b.click("#verify-form button[type=submit]")
    b.visible("#app")
    secret = b.find("#secret-value").text
    assert secret.startswith("hc_")
    assert secret not in b.driver.current_url
    assert b.js("return JSON.parse(localStorage.getItem('hc.citizen.secret'))") == secret
    b.click("#secret-done")

    # The questionnaire: a wrong answer gets the API's messages next to the fields.
    b.click('#tabs [data-tab="report"]')
    b.fill("#q-temp", "50")
    b.click("#add-travel")
    b.fill("#travel-0-area_code", "harbour")
    b.js("""const set = (id, v) => { const e = document.getElementById(id); e.value = v;
            e.dispatchEvent(new Event('input', {bubbles: true})); };
            set('travel-0-from', '2026-11-20T10:00'); set('travel-0-to', '2026-11-19T10:00');""")
    b.click("#questionnaire-form button[type=submit]")
    b.text_has('#questionnaire-form [data-field="temperature_c"] .field-error',
               "must be between 30 and 45")
    b.text_has('#questionnaire-form [data-field="travel.0.to"] .field-error',
               "must not be before 'from'")
    b.fill("#q-temp", "36.6")
    b.click("#travel-rows .remove")
    b.click("#questionnaire-form button[type=submit]")
    b.text_has("#questionnaire-status", "Green")
    assert not b.find_all("#questionnaire-form .field-error")

    b.click('#tabs [data-tab="why"]')
    b.attr_is("#band", "data-color", "green")
    b.text_has("#band-color", "Green")
    b.text_has("#band-name", "张*")
    b.text_has("#turns-green", "Nothing on record")
    green_jti, token = qr_from_screen(b)
    claims = verify_with_jwks(live_server, token)
    assert (claims["hc"], claims["nm"], claims["jti"]) == ("green", "张*", green_jti)
    b.text_has("#qr-expiry", "Valid until")
    clock = b.find("#clock").text
    b.wait(lambda d: b.find("#clock").text != clock, message="the clock ticks")
    b.screenshot("citizen-green-360")

    # A close-contact record arrives: the page turns red, says why, and shows a new QR.
    ref = import_record(client, provider, id_number)
    b.click("#refresh")
    b.attr_is("#band", "data-color", "red")
    b.text_has("#reasons", "Close contact of a confirmed case")
    b.text_has("#reasons", ref)
    b.text_has("#turns-green", "Turns green on")
    b.wait(lambda d: b.js(QR_LOADED) not in (None, green_jti), message="a new QR")
    _, token = qr_from_screen(b)
    assert verify_with_jwks(live_server, token)["hc"] == "red"
    b.screenshot("citizen-360")

    # Chinese: the page's words and, through Accept-Language, the service's reasons.
    b.click("#lang-toggle")
    b.text_has("#band-color", "红码")
    b.text_has("#reasons", "确诊病例的密切接触者")
    b.screenshot("citizen-360-zh")
    b.click("#lang-toggle")
    b.text_has("#reasons", "Close contact of a confirmed case")

    b.viewport(1280, 900)
    b.click('#tabs [data-tab="notices"]')
    b.text_has("#restrictions", "No restrictions")
    b.click('#tabs [data-tab="why"]')
    b.screenshot("citizen-desktop")
    b.assert_clean()


def test_citizen_qr_renews_itself_before_it_expires(browser, app, client):
    app.config["TOKEN_LIFETIME_SECONDS"] = 35  # the page asks for a new one 5 s after issue
    secret, _ = register(client, "Sun Qi")
    b = browser(mobile=True)
    b.open("/")
    b.js("localStorage.setItem('hc.citizen.secret', JSON.stringify(arguments[0]))", secret)
    b.open("/")
    first = b.wait(lambda d: b.js(QR_LOADED), message="first QR")
    b.text_has("#qr-expiry", "0:3")
    b.wait(lambda d: b.js(QR_LOADED) not in (None, first), timeout=12, message="a renewed QR")
    jti, token = qr_from_screen(b)
    assert verify_with_jwks(b.base, token)["jti"] == jti != first
    b.assert_clean()


def test_citizen_reports_daily_appeals_and_sees_their_data(browser, client, provider, operator):
    if not offered(client, "POST /api/v1/me/appeals"):
        pytest.skip("the service does not take appeals yet")
    secret, id_number = register(client, "Wang Wu")
    ref = import_record(client, provider, id_number)
    official = operator(Role.OFFICIAL)["Authorization"].split()[1]

    b = browser(mobile=True)
    b.open("/")
    b.js("localStorage.setItem('hc.citizen.secret', JSON.stringify(arguments[0]))", secret)
    b.open("/")
    b.attr_is("#band", "data-color", "red")
    if offered(client, "POST /api/v1/me/daily-reports"):
        b.click('#tabs [data-tab="report"]')
        b.fill("#d-temp", "36.5")
        b.click("#daily-form button[type=submit]")
        b.text_has("#daily-status", "Red")
        b.click('#tabs [data-tab="why"]')
    b.click("#reasons .fact button")  # "Appeal" next to the record
    b.wait(lambda d: b.find("#a-target-id").get_attribute("value") == f"city-cdc/{ref}")
    b.fill("#a-reason", "I was at home that day, not at the venue.")
    b.click("#appeal-form button[type=submit]")
    b.text_has("#appeal-status", "sent")
    b.text_has("#appeals-list", "open")

    b.click('#tabs [data-tab="data"]')
    b.click("#data-load")
    b.visible('#data-view [data-key="records"]')
    b.text_has("#data-view", ref)
    b.text_has("#data-view", "Wang Wu")

    b.viewport(1280, 900)
    b.open("/console")
    b.paste("#official-secret", official)
    b.click("#signin-form button[type=submit]")
    b.click('#tabs [data-tab="appeals"]')
    b.text_has("#queue", ref)
    b.choose("#queue .decision-form select", "corrected")
    b.fill("#queue .decision-form input[name=note]", "The venue's list was wrong.")
    b.click("#queue .decision-form button[type=submit]")
    b.text_has("#queue", "corrected")

    b.open("/")
    b.attr_is("#band", "data-color", "green")
    b.assert_clean()


# -- the checkpoint scanner -----------------------------------------------------------------

def _scanner_signed_in(b, device: str) -> None:
    b.open("/scan")
    b.paste("#device-secret", device)
    b.click("#device-form button[type=submit]")
    b.visible("#app")
    b.attr_is("#bundle-age", "data-state", "fresh")


def _dismiss(b) -> None:
    b.find("#result").click()
    b.gone("#result")


def test_scanner_camera_admits_green_and_refuses_red(browser, client, operator, provider,
                                                     tmp_path):
    device = checkpoint_device(client, operator(Role.OFFICIAL))
    green, _ = register(client, "张三")
    healthy(client, green)
    _, green_png = token_with_qr(client, green)
    red, red_id = register(client, "Li Si")
    import_record(client, provider, red_id)
    _, red_png = token_with_qr(client, red)
    camera = write_y4m(green_png, tmp_path / "camera.y4m")

    b = browser(mobile=True, video=camera)
    _scanner_signed_in(b, device)
    b.text_has("#checkpoint-info", "admits Green")
    b.click("#camera-start")
    b.visible("#result")
    b.attr_is("#result", "data-decision", "admit")
    b.text_has("#result-word", "ADMIT")
    b.text_has("#result-name", "张*")
    b.text_has("#result-reason", "Code accepted")
    b.screenshot("scanner-admit-360", full_page=False)
    b.js("document.querySelector('#camera-stop').click()")
    _dismiss(b)

    write_y4m(red_png, camera)  # the fake camera reads the file again when it restarts
    b.click("#camera-start")
    b.visible("#result")
    b.attr_is("#result", "data-decision", "refuse")
    b.text_has("#result-word", "REFUSE")
    b.text_has("#result-name", "L* S*")
    b.text_has("#result-reason", "color is not admitted")
    b.screenshot("scanner-refuse-360", full_page=False)
    b.js("document.querySelector('#camera-stop').click()")
    _dismiss(b)
    assert (b.find("#count-admit").text, b.find("#count-refuse").text) == ("1", "1")
    b.screenshot("scanner-360")
    b.viewport(1280, 900)
    b.screenshot("scanner-desktop")
    b.assert_clean()


def test_scanner_decides_offline_in_the_browser_and_uploads_later(browser, app, client, operator,
                                                                  provider):
    device = checkpoint_device(client, operator(Role.OFFICIAL))
    green, _ = register(client, "张三")
    healthy(client, green)
    green_token, _ = token_with_qr(client, green)
    red, red_id = register(client, "Li Si")
    import_record(client, provider, red_id)
    red_token, _ = token_with_qr(client, red)
    changed, changed_id = register(client, "Zhao Liu")
    healthy(client, changed)
    stale_token, _ = token_with_qr(client, changed)
    head, body, signature = green_token.split(".")
    forged = ".".join([head, body, signature[:20] + ("A" if signature[20] != "A" else "B")
                       + signature[21:]])

    b = browser(mobile=True)
    _scanner_signed_in(b, device)
    b.find("#force-offline").click()
    b.attr_is("#net", "data-net", "forced")

    def paste(token: str, decision: str, reason: str) -> None:
        b.paste("#paste", token)
        b.click("#paste-form button[type=submit]")
        b.visible("#result")
        b.attr_is("#result", "data-offline", "true")
        b.attr_is("#result", "data-decision", decision)
        b.attr_is("#result", "data-reason", reason)
        _dismiss(b)

    paste(green_token, "admit", "ok")
    paste(forged, "refuse", "bad_signature")
    paste(red_token, "refuse", "color_not_admitted")
    # The holder's code changes after the token was made; the next bundle says so.
    import_record(client, provider, changed_id)
    cursor = b.find("#bundle-age").get_attribute("data-cursor")
    b.click("#bundle-refresh")
    b.wait(lambda d: b.find("#bundle-age").get_attribute("data-cursor") != cursor,
           message="the new bundle's cursor")
    paste(stale_token, "refuse", "code_changed")
    b.text_has("#queued", "4")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ScanReceipt)).scalar() == 0

    b.find("#force-offline").click()  # the network is back: the queue is uploaded
    b.text_has("#queued", "0")
    b.text_has("#sync-status", "4 offline scans uploaded")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ScanReceipt)).scalar() == 4
        assert db.session.execute(select(func.count()).select_from(CheckIn)).scalar() == 1
    b.assert_clean()


# -- the officials' console -----------------------------------------------------------------

def _console_signed_in(b, official: dict, tab: str = "rules") -> None:
    b.open("/console")
    b.paste("#official-secret", official["Authorization"].split()[1])
    b.click("#signin-form button[type=submit]")
    b.visible("#app")
    if tab == "rules":
        b.click('#tabs [data-tab="rules"]')
        b.visible(".rule-card")


def _open_rule(b, rule_id: str) -> int:
    """Open the card of rule ``rule_id`` in the editor; its index."""
    index = b.js("""return [...document.querySelectorAll('.rule-card')].findIndex(
        (c) => c.querySelector('input[name=id]').value === arguments[0]);""", rule_id)
    assert index >= 0, rule_id
    b.click(f'.rule-card[data-index="{index}"] > summary')
    b.visible(f"#rule-{index}-id")
    return index


def test_console_edits_simulates_publishes_and_the_audit_shows_it(browser, client, operator,
                                                                   provider):
    official = operator(Role.OFFICIAL)
    for name in ("Chen Qi", "Zhou Ba"):
        secret, id_number = register(client, name)
        healthy(client, secret)
    import_record(client, provider, id_number, kind="secondary_contact")  # Zhou Ba: yellow

    b = browser()
    _console_signed_in(b, official, tab="dashboard")
    if offered(client, "GET /api/v1/stats/colors"):  # the first panel shown
        b.visible("#dashboard-chart")
        days = b.wait(lambda d: b.js("""const c = Chart.getChart(
            document.querySelector('#dashboard-chart')); return c && c.data.labels.length;"""),
            message="dashboard chart")
        assert days == 14
        counts = [int(e.text) for e in b.find_all("#dashboard-today .n")]
        assert sum(counts) == 2, counts
        b.screenshot("console-dashboard-desktop", full_page=False)
    b.click('#tabs [data-tab="rules"]')
    b.visible(".rule-card")
    b.text_has("#rules-active", "version 1")
    i = _open_rule(b, "secondary_contact")
    b.choose(f"#rule-{i}-color", "red")
    b.fill(f"#rule-{i}-summary", "Contact of a close contact (raised to red)")
    b.fill("#rules-note", "Raise secondary contacts to red for the outbreak")
    b.text_has("#draft-state", "Unsaved")
    b.click("#simulate")
    b.visible("#simulation")
    b.text_has("#simulation-summary", "of 2 people, 1 would change color")
    bars = b.js("""const c = Chart.getChart(document.querySelector('#simulation-chart'));
                   const counts = c.data.datasets[0].data;
                   return Object.fromEntries(c.data.labels.map((l, i) => [l, counts[i]]));""")
    assert bars["Yellow → Red"] == 1 and sum(bars.values()) == 1, bars
    b.text_has("#simulation-samples", "yellow->red")
    b.text_has(f'.rule-card[data-index="{i}"] .rule-brief', "raised to red")
    b.js("document.querySelector('#simulation').scrollIntoView({block: 'end'})")
    b.screenshot("console-desktop", full_page=False)

    b.click("#publish")
    b.text_has("#publish-question", "as version 2")
    b.click("#publish-yes")
    b.text_has("#rules-status", "Published as version 2")
    b.text_has("#rules-active", "version 2")
    b.text_has("#versions", "v2")

    b.click('#tabs [data-tab="audit"]')
    b.visible('#audit-table tr[data-action="ruleset.publish"]')
    b.fill("#audit-action", "ruleset.publish")
    b.click("#audit-form button[type=submit]")
    b.text_has("#audit-page", "Page 1 of 1 (1 in all)")
    b.text_has("#audit-table", "Raise secondary contacts to red")
    assert {r.get_attribute("data-action") for r in b.find_all("#audit-table tbody tr")} == {
        "ruleset.publish"}
    code = client.get("/api/v1/me/code", headers={"Authorization": f"Bearer {secret}"}).json
    assert code["color"] == "red"

    b.click('#tabs [data-tab="checkpoints"]')
    b.fill("#cp-name", "Central station gate 3")
    b.choose("#cp-category", "rail")
    b.click("#checkpoint-form button[type=submit]")
    b.text_has("#checkpoint-list", "Central station gate 3")
    b.click("#checkpoint-list tbody tr button")
    assert b.visible("#device-secret-value").text.startswith("hc_")

    b.click('#tabs [data-tab="tracing"]')
    b.click('#tracing-form input[value="id_number"]')
    b.fill("#tracing-case", id_number)
    b.fill("#tracing-reason", "Confirmed case on 26 Nov, outbreak at the library")
    b.click("#tracing-form button[type=submit]")
    b.text_has("#tracing-status", "0 visits of the case, 0 leads")

    b.viewport(360, 780, mobile=True)
    b.click('#tabs [data-tab="rules"]')
    b.js("window.scrollTo(0, 0)")
    b.screenshot("console-360", full_page=False)
    b.assert_clean()


def test_console_shows_a_rule_error_next_to_the_rule(browser, operator):
    b = browser()
    b.allowed_statuses = {422}  # the service refusing the draft is what this test provokes
    _console_signed_in(b, operator(Role.OFFICIAL))
    i = _open_rule(b, "positive_test")
    b.fill(f"#rule-{i}-quarantine_days", "99")
    b.fill(f"#rule-{i}-when", '{"==": [{"var": "temprature_c"}, 38]}')
    b.click("#save-draft")
    b.visible("#rules-problems")
    b.text_has(f'[data-field="rules.{i}.quarantine_days"] .field-error', "from 1 to 28")
    b.text_has(f'[data-field="rules.{i}.when"] .field-error', "temprature_c")
    b.text_has("#rules-problems", f"Rule #{i + 1} (positive_test)")
    assert b.find(f"#rule-{i}-quarantine_days").get_attribute("aria-invalid") == "true"
    b.text_has("#draft-state", "errors")
    assert len(b.find_all(".rule-card .field-error")) == 2  # no other rule is blamed
    b.js("document.querySelector('#rules-problems').scrollIntoView({block: 'start'});"
         "window.scrollBy(0, -70)")
    b.screenshot("console-rule-error-desktop", full_page=False)

    # JSON that does not parse is caught on the page, before anything is sent.
    b.fill(f"#rule-{i}-when", '{"==": [')
    b.text_has(f'[data-field="rules.{i}.when"] .field-error', "Not valid JSON")
    b.click("#save-draft")
    b.text_has("#rules-status", "Fix the JSON first")

    # The same problems in the JSON editor are listed above it.
    b.fill(f"#rule-{i}-when", '{"==": [{"var": "kind"}, "test_result"]}')
    b.click("#mode-json")
    b.visible("#rules-json")
    b.paste("#rules-json", '[{"id": "only", "summary": "x", "color": "blue", '
                          '"quarantine_days": 3, "when": {"==": [{"var": "kind"}, "travel"]}}]')
    b.click("#save-draft")
    b.text_has("#rules-problems", "Rule #1 (only), color: must be one of yellow, red")
    b.assert_clean()


# -- what every page is served with ---------------------------------------------------------

class _Inline(HTMLParser):
    """Finds what a strict CSP would block: inline scripts, styles and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        if tag == "script" and "src" not in named:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style>")
        for name, _ in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
        for name in ("src", "href"):
            if named.get(name, "").startswith("/static/"):
                self.assets.append(named[name])


@pytest.mark.parametrize("path", ["/", "/scan", "/console"])
def test_pages_have_a_strict_csp_and_only_local_assets(client, path):
    page = client.get(path)
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    parser = _Inline()
    parser.feed(page.get_data(as_text=True))
    assert parser.problems == []
    assert not re.search(r"(src|href)=\"(https?:)?//", page.get_data(as_text=True))
    for asset in parser.assets:
        assert client.get(asset).status_code == 200, asset


def test_the_browser_checks_would_catch_a_csp_violation_and_a_script_error(browser):
    """The harness itself: what the pages must never do is seen and reported."""
    b = browser()
    b.open("/")
    b.js("document.body.setAttribute('style', 'color: red');"
         "setTimeout(() => { throw new Error('boom'); });")
    b.wait(lambda d: b.js("return window.__cspViolations.length") > 0, message="violation seen")
    b.wait(lambda d: b.js("return (window.hcCspViolations || []).length") > 0,
           message="the page's own listener saw it too")
    with pytest.raises(AssertionError) as caught:
        b.assert_clean()
    assert "boom" in str(caught.value)
    assert any(v["directive"].startswith("style-src") for v in b.violations)
    b.js("window.__cspViolations.length = 0")  # seen: the fixture's final check must pass
    b.console.clear()
    b.violations.clear()
