"""A stored code is served as it is until time alone could change it.

Reads between data changes skip the evaluation, so these tests move the clock
forward (calling the service with a later ``now``) and check that the code turns
when a quarantine ends, a record dated in the future starts to count, an area
takes on a level set in advance or a self-report leaves the lookback window, and
that a read never serves anything a fresh evaluation would not.
"""

from datetime import timedelta

from conftest import now
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.api.common import LANGUAGES
from backend.extensions import db
from backend.models import Citizen, CodeState, GovRecord, Questionnaire
from backend.services.checkins import purge_expired
from backend.services.codes import UNTIL_DATA_CHANGES, current_code, recompute_codes
from backend.services.facts import load_facts
from backend.services.rulesets import active_ruleset
from risk import evaluate


def _code_at(app, subject: str, at, explained: bool = True) -> CodeState:
    """The code as a read at ``at`` serves it; checked against a fresh evaluation."""
    with app.app_context():
        citizen = db.session.query(Citizen).filter_by(subject=subject).one()
        cache = app.extensions["ruleset_cache"]
        state, decision = current_code(citizen, at, cache, explained=explained)
        fresh = evaluate(load_facts([citizen.id], at)[citizen.id],
                         active_ruleset(citizen.region, cache), at)
        assert state.fingerprint == fresh.fingerprint()
        if explained:
            assert decision.fingerprint() == fresh.fingerprint()
            for lang in LANGUAGES:  # the served explanation reads as a fresh one
                assert ({**decision.to_dict(lang), "evaluated_at": None}
                        == {**fresh.to_dict(lang), "evaluated_at": None})
        db.session.expunge(state)
        return state


def _store_records(app, subject: str, dated: list[tuple[str, object]], at) -> None:
    """Store records as an import does (then evaluate at ``at``). Imports refuse a time
    more than the clock skew ahead, so a record dated in the future is written here."""
    with app.app_context():
        citizen = db.session.query(Citizen).filter_by(subject=subject).one()
        for i, (kind, occurred_at) in enumerate(dated):
            db.session.add(GovRecord(kind=kind, id_hash=citizen.id_hash, occurred_at=occurred_at,
                                     source="cdc", ref=f"{subject}-{i}", detail={},
                                     received_at=at))
        db.session.flush()
        recompute_codes([citizen], at, app.extensions["ruleset_cache"])
        db.session.commit()


def test_green_code_is_reused_until_data_changes(app, client, citizen):
    headers, _, body = citizen()
    assert client.get("/api/v1/me/code", headers=headers).json["color"] == "green"
    state = _code_at(app, body["subject"], now())
    assert state.reusable_until == UNTIL_DATA_CHANGES
    later = _code_at(app, body["subject"], now() + timedelta(days=40))
    assert (later.color, later.version) == ("green", state.version)


def test_record_dated_in_the_future_turns_the_code_when_it_starts(app, client, citizen):
    headers, _, body = citizen()
    starts = now().replace(microsecond=0) + timedelta(hours=1)
    _store_records(app, body["subject"], [("close_contact", starts)], now())
    assert client.get("/api/v1/me/code", headers=headers).json["color"] == "green"
    before = _code_at(app, body["subject"], starts - timedelta(seconds=1))
    assert (before.color, before.reusable_until) == ("green", starts)
    after = _code_at(app, body["subject"], starts + timedelta(seconds=1))
    assert after.color == "red"
    assert after.version == before.version + 1
    # Red for 14 days from the contact: a token may be signed from the stored code
    # until then, an explanation is evaluated afresh.
    assert after.reusable_until == starts + timedelta(days=14)
    stored = _code_at(app, body["subject"], starts + timedelta(days=13), explained=False)
    assert (stored.color, stored.version) == ("red", after.version)
    assert _code_at(app, body["subject"], starts + timedelta(days=14)).color == "green"


def test_a_self_report_leaving_the_lookback_window_turns_the_code(app, client, citizen):
    headers, _, body = citizen()
    reported = client.post("/api/v1/me/questionnaires", headers=headers,
                           json={"temperature_c": 38.5, "symptoms": []}).json
    assert reported["code"]["color"] == "yellow"  # fever, until a clean questionnaire
    start = now()
    held = _code_at(app, body["subject"], start + timedelta(days=27), explained=False)
    assert held.color == "yellow"
    assert held.reusable_until <= start + timedelta(days=28)
    assert _code_at(app, body["subject"], start + timedelta(days=28, minutes=1),
                    explained=False).color == "green"


def test_area_risk_set_in_advance_turns_its_travellers_when_it_starts(app, client, citizen,
                                                                      provider):
    headers, _, body = citizen()
    stay = {"area_code": "riverside", "from": (now() - timedelta(days=3)).isoformat(),
            "to": (now() - timedelta(days=2)).isoformat()}
    client.post("/api/v1/me/questionnaires", headers=headers,
                json={"temperature_c": 36.5, "symptoms": [], "travel": [stay]})
    since = now().replace(microsecond=0) + timedelta(hours=2)
    answer = client.put("/api/v1/gov/areas/riverside", headers=provider,
                        json={"risk_level": "high", "since": since.isoformat(), "region": "r1"})
    assert answer.status_code == 200, answer.json
    before = _code_at(app, body["subject"], since - timedelta(seconds=1))
    assert (before.color, before.reusable_until) == ("green", since)
    assert _code_at(app, body["subject"], since + timedelta(seconds=1)).color == "red"


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(offsets=st.lists(st.integers(-30 * 24, 30 * 24), min_size=1, max_size=4),
       kinds=st.lists(st.sampled_from(["close_contact", "secondary_contact", "confirmed_case",
                                        "quarantine_order"]),
                      min_size=4, max_size=4),
       reads=st.lists(st.tuples(st.integers(0, 40 * 24), st.booleans()), min_size=1,
                      max_size=6))
def test_a_served_code_always_equals_a_fresh_evaluation(app, citizen, offsets, kinds, reads):
    """Records at any time from 30 days ago to 30 days ahead, reads at increasing times:
    every read serves the color a fresh evaluation gives then (checked in ``_code_at``)."""
    _, _, body = citizen()
    base = now().replace(microsecond=0)
    _store_records(app, body["subject"],
                   [(kinds[i], base + timedelta(hours=h)) for i, h in enumerate(offsets)], base)
    for hours, explained in sorted(reads):
        _code_at(app, body["subject"], base + timedelta(hours=hours), explained)


def test_purging_reports_the_rules_still_read_makes_the_next_read_evaluate(app, citizen):
    """A questionnaire retention shorter than the rules' 28-day lookback deletes reports
    a stored code was decided on: the next read evaluates again, as a fresh one would."""
    _, _, body = citizen()
    at = now()
    with app.app_context():
        person = db.session.query(Citizen).filter_by(subject=body["subject"]).one()
        db.session.add(Questionnaire(citizen_id=person.id, reported_at=at - timedelta(days=10),
                                     temperature_c=38.6, symptoms=[]))
        db.session.flush()
        recompute_codes([person], at, app.extensions["ruleset_cache"])
        db.session.commit()
    assert _code_at(app, body["subject"], at, explained=False).color == "yellow"
    with app.app_context():
        counts = purge_expired(at, checkin_days=28, questionnaire_days=7, history_days=28)
    assert counts["questionnaires"] == 1
    assert _code_at(app, body["subject"], at, explained=False).color == "green"
