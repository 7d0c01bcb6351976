"""Throughput of the risk engine on synthetic people, one core.

    python bench/evaluate.py [--n 100000] [--seed 1]

People are generated in memory first so that only evaluate_many is timed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from risk import Fact, compile_ruleset, default_ruleset, evaluate_many  # noqa: E402

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
RESPIRATORY = ["cough", "sore_throat", "loss_of_smell", "shortness_of_breath", "fatigue"]


def _ago(rng: random.Random, max_days: float) -> datetime:
    return NOW - timedelta(seconds=rng.uniform(0, max_days * 86400))


def _questionnaire(rng: random.Random, i: int, j: int) -> Fact:
    feverish = rng.random() < 0.02
    temperature = rng.gauss(37.8 if feverish else 36.6, 0.3)
    symptoms: list[str] = []
    if feverish and rng.random() < 0.5:
        symptoms.append("fever")
    if rng.random() < 0.03:
        symptoms.append(rng.choice(RESPIRATORY))
    return Fact("questionnaire", _ago(rng, 14), "self_report", f"q-{i}-{j}",
                {"temperature_c": round(temperature, 1), "symptoms": symptoms})


def _person(rng: random.Random, i: int) -> list[Fact]:
    facts = [_questionnaire(rng, i, j) for j in range(rng.choice((1, 1, 2, 2, 3)))]
    if rng.random() < 0.2:
        risk = rng.choices(("low", "medium", "high"), weights=(90, 8, 2))[0]
        facts.append(Fact("travel", _ago(rng, 21), "carrier-feed", f"t-{i}",
                          {"area_code": f"{rng.randrange(110000, 660000)}", "area_risk": risk}))
    if rng.random() < 0.3:
        facts.append(Fact("vaccination", _ago(rng, 300), "registry", f"v-{i}", {"dose": 2}))
    if rng.random() < 0.1:
        result = "positive" if rng.random() < 0.05 else "negative"
        facts.append(Fact("test_result", _ago(rng, 10), "lab", f"r-{i}", {"result": result}))
    roll = rng.random()
    if roll < 0.02:
        facts.append(Fact("close_contact", _ago(rng, 20), "cdc-feed", f"cc-{i}"))
    elif roll < 0.05:
        facts.append(Fact("secondary_contact", _ago(rng, 10), "cdc-feed", f"sc-{i}"))
    elif roll < 0.055:
        facts.append(Fact("confirmed_case", _ago(rng, 30), "cdc-feed", f"case-{i}"))
    elif roll < 0.06:
        at = _ago(rng, 20)
        facts.append(Fact("quarantine_order", at, "health-office", f"qo-{i}",
                          {"until": at + timedelta(days=rng.choice((14, 21, 28)))}))
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of people")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    people = [(i, _person(rng, i)) for i in range(args.n)]
    n_facts = sum(len(facts) for _, facts in people)
    ruleset = compile_ruleset(default_ruleset())

    start = time.perf_counter()
    colors = Counter(decision.color for _, decision in evaluate_many(people, ruleset, NOW))
    elapsed = time.perf_counter() - start

    print(f"people: {args.n:,}  facts: {n_facts:,} ({n_facts / args.n:.2f}/person)")
    print(f"elapsed: {elapsed:.3f}s  throughput: {args.n / elapsed:,.0f} people/s")
    for color in ("green", "yellow", "red"):
        print(f"  {color:<6} {colors[color]:>8,}  {100 * colors[color] / args.n:5.1f}%")


if __name__ == "__main__":
    main()
