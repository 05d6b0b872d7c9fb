"""Unsubscribe tokens: genuine ones verify, anything altered, foreign or old does not."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.exceptions import LifecycleError, UnsubscribeTokenError
from lifecycle.mail.unsubscribe import make_token, verify_token

SECRET = b"0123456789abcdef-unsubscribe-secret"
OTHER_SECRET = b"fedcba9876543210-another-secret!!"
ISSUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=90)


def test_round_trip() -> None:
    token = make_token(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED + timedelta(days=1), MAX_AGE) == "c-42"


def test_token_is_url_safe_and_versioned() -> None:
    token = make_token(SECRET, "kund/42?x=1&y=ö #", ISSUED)
    assert token.startswith("v1.")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)


def test_same_inputs_same_token_and_different_customers_differ() -> None:
    assert make_token(SECRET, "c-1", ISSUED) == make_token(SECRET, "c-1", ISSUED)
    assert make_token(SECRET, "c-1", ISSUED) != make_token(SECRET, "c-2", ISSUED)


def test_other_secret_is_refused() -> None:
    token = make_token(OTHER_SECRET, "c-42", ISSUED)
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, token, ISSUED, MAX_AGE)


def test_swapped_customer_id_is_refused() -> None:
    version, _, issued, mac = make_token(SECRET, "c-42", ISSUED).split(".")
    other_id = base64.urlsafe_b64encode(b"c-43").rstrip(b"=").decode()
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, f"{version}.{other_id}.{issued}.{mac}", ISSUED, MAX_AGE)


def test_extended_issue_time_is_refused() -> None:
    version, customer, issued, mac = make_token(SECRET, "c-42", ISSUED).split(".")
    later = str(int(issued) + 365 * 86400)
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, f"{version}.{customer}.{later}.{mac}", ISSUED, MAX_AGE)


def test_every_single_character_change_is_refused() -> None:
    token = make_token(SECRET, "c-42", ISSUED)
    for index, char in enumerate(token):
        for replacement in {"A", "b", "0", "-", "_", "."} - {char}:
            forged = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(UnsubscribeTokenError):
                verify_token(SECRET, forged, ISSUED, MAX_AGE)


def test_every_truncation_is_refused() -> None:
    token = make_token(SECRET, "c-42", ISSUED)
    for length in range(len(token)):
        with pytest.raises(UnsubscribeTokenError):
            verify_token(SECRET, token[:length], ISSUED, MAX_AGE)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "v1",
        "v1...",
        "v1.YzQy.1767225600",
        "v1.YzQy.1767225600.mac.extra",
        "v1.YzQy.-5." + "A" * 43,
        "v1.YzQy.17e9." + "A" * 43,
        "v1.Yz+y.1767225600." + "A" * 43,
        "v1.YzQy.1767225600." + "A" * 42 + "=",
        "v1.YzQy.1767225600." + "Å" * 43,
        "v1.YzQy.1767225600.\x00" + "A" * 42,
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(UnsubscribeTokenError):
        verify_token(SECRET, token, ISSUED, MAX_AGE)


def test_unknown_version_is_refused_as_such() -> None:
    token = "v2" + make_token(SECRET, "c-42", ISSUED)[2:]
    with pytest.raises(UnsubscribeTokenError, match="version"):
        verify_token(SECRET, token, ISSUED, MAX_AGE)


def test_expiry_boundary() -> None:
    token = make_token(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED + MAX_AGE, MAX_AGE) == "c-42"
    with pytest.raises(UnsubscribeTokenError, match="expired"):
        verify_token(SECRET, token, ISSUED + MAX_AGE + timedelta(seconds=1), MAX_AGE)


def test_token_from_the_future_beyond_clock_skew_is_refused() -> None:
    token = make_token(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED - timedelta(minutes=4), MAX_AGE) == "c-42"
    with pytest.raises(UnsubscribeTokenError, match="future"):
        verify_token(SECRET, token, ISSUED - timedelta(minutes=6), MAX_AGE)


def test_time_zone_of_issue_and_check_does_not_matter() -> None:
    helsinki = timezone(timedelta(hours=2))
    token = make_token(SECRET, "c-42", ISSUED.astimezone(helsinki))
    assert token == make_token(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED.astimezone(helsinki), MAX_AGE) == "c-42"


def test_error_is_a_lifecycle_error_and_does_not_echo_the_token() -> None:
    token = make_token(OTHER_SECRET, "secret-customer-id", ISSUED)
    with pytest.raises(LifecycleError) as caught:
        verify_token(SECRET, token, ISSUED, MAX_AGE)
    assert token not in str(caught.value)
    assert "secret-customer-id" not in str(caught.value)


def test_short_secret_empty_id_and_naive_times_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="secret"):
        make_token(b"short", "c-42", ISSUED)
    with pytest.raises(ValueError, match="customer_id"):
        make_token(SECRET, "", ISSUED)
    with pytest.raises(ValueError, match="timezone"):
        make_token(SECRET, "c-42", datetime(2026, 1, 1))
    token = make_token(SECRET, "c-42", ISSUED)
    with pytest.raises(ValueError, match="timezone"):
        verify_token(SECRET, token, datetime(2026, 3, 1), MAX_AGE)


@given(customer_id=st.text(min_size=1, max_size=200))
def test_any_customer_id_round_trips(customer_id: str) -> None:
    token = make_token(SECRET, customer_id, ISSUED)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)
    assert verify_token(SECRET, token, ISSUED, MAX_AGE) == customer_id


@given(customer_id=st.text(min_size=1, max_size=50), junk=st.text(max_size=80))
def test_arbitrary_text_never_verifies_and_never_crashes(customer_id: str, junk: str) -> None:
    genuine = make_token(SECRET, customer_id, ISSUED)
    if junk == genuine:
        return
    with pytest.raises(UnsubscribeTokenError):
        verify_token(SECRET, junk, ISSUED, MAX_AGE)
