"""A/B assignment: deterministic, sticky, independent of other campaigns, on target."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from lifecycle.campaigns.journeys.assignment import assign_variant, bucket
from lifecycle.campaigns.model import Split, Variant

from .support import REPO

WINBACK = Split(
    variants=(Variant(name="gentle", weight=4500), Variant(name="discount", weight=4500)),
    control=1000,
    salt="winback",
)
CUSTOMERS = [f"customer-{n}" for n in range(100_000)]


@pytest.mark.parametrize(
    "split",
    [
        WINBACK,
        Split(
            variants=(
                Variant(name="a", weight=3333),
                Variant(name="b", weight=3333),
                Variant(name="c", weight=3334),
            ),
            salt="three-way",
        ),
        Split(variants=(Variant(name="default", weight=9750),), control=250, salt="small-holdout"),
    ],
)
def test_shares_are_within_one_percentage_point_over_100k_customers(split: Split) -> None:
    counts = Counter(assign_variant(split, customer) for customer in CUSTOMERS)
    expected = {v.name: v.weight / 100 for v in split.variants}
    if split.control:
        expected["control"] = split.control / 100
    assert set(counts) == set(expected)
    for name, share in expected.items():
        observed = 100 * counts[name] / len(CUSTOMERS)
        assert abs(observed - share) < 1.0, (name, observed, share)


def test_assignment_depends_only_on_the_salt_and_the_customer() -> None:
    other = Split(variants=(Variant(name="x", weight=10_000),), salt="some-other-campaign")
    before = [assign_variant(WINBACK, c) for c in CUSTOMERS[:2000]]
    _ = [assign_variant(other, c) for c in CUSTOMERS[:2000]]  # another campaign in between
    after = [assign_variant(WINBACK, c) for c in reversed(CUSTOMERS[:2000])]
    assert before == list(reversed(after))


def test_campaigns_are_assigned_independently_of_each_other() -> None:
    # The same customer's bucket in two campaigns is uncorrelated: knowing one tells
    # nothing about the other (each pair of halves holds about a quarter).
    halves = Counter(
        (bucket("winback", c) < 5000, bucket("reengagement", c) < 5000) for c in CUSTOMERS
    )
    for pair in [(True, True), (True, False), (False, True), (False, False)]:
        assert abs(halves[pair] / len(CUSTOMERS) - 0.25) < 0.01


def test_assignment_survives_a_new_process_with_another_hash_seed() -> None:
    customers = CUSTOMERS[:500]
    script = (
        "import json, sys\n"
        "from lifecycle.campaigns import assign_variant\n"
        "from lifecycle.campaigns.model import Split, Variant\n"
        "split = Split(variants=(Variant(name='gentle', weight=4500), "
        "Variant(name='discount', weight=4500)), control=1000, salt='winback')\n"
        "print(json.dumps([assign_variant(split, c) for c in json.load(sys.stdin)]))\n"
    )
    results = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        done = subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(customers),
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
            timeout=60,
        )
        results.append(json.loads(done.stdout))
    assert results[0] == results[1] == [assign_variant(WINBACK, c) for c in customers]


def test_a_new_salt_reshuffles() -> None:
    reshuffled = WINBACK.model_copy(update={"salt": "winback-2027"})
    same = sum(
        assign_variant(WINBACK, c) == assign_variant(reshuffled, c) for c in CUSTOMERS[:10_000]
    )
    # Independent draws agree with probability 0.1^2 + 2 * 0.45^2 = 0.415.
    assert 0.39 < same / 10_000 < 0.44
