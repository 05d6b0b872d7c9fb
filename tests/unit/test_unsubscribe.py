"""Unsubscribe tokens: genuine ones verify, anything altered, foreign or old does not.

Version 2 is what the worker issues; version 1 links (sent before it) still verify, so
the rules below are checked for both makers where they apply to both.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.exceptions import LifecycleError, UnsubscribeTokenError
from lifecycle.mail.unsubscribe import make_token, make_v1_token, open_token, verify_token

SECRET = b"0123456789abcdef-unsubscribe-secret"
OTHER_SECRET = b"fedcba9876543210-another-secret!!"
ISSUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(days=90)
MAKERS = pytest.mark.parametrize("make", [make_token, make_v1_token], ids=["v2", "v1"])


@MAKERS
def test_round_trip(make: Any) -> None:
    token = make(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED + timedelta(days=1), MAX_AGE) == "c-42"


def test_v1_token_is_url_safe_and_versioned() -> None:
    token = make_v1_token(SECRET, "kund/42?x=1&y=ö #", ISSUED)
    assert token.startswith("v1.")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token)


@MAKERS
def test_same_inputs_same_token_and_different_customers_differ(make: Any) -> None:
    assert make(SECRET, "c-1", ISSUED) == make(SECRET, "c-1", ISSUED)
    assert make(SECRET, "c-1", ISSUED) != make(SECRET, "c-2", ISSUED)


@MAKERS
def test_other_secret_is_refused(make: Any) -> None:
    token = make(OTHER_SECRET, "c-42", ISSUED)
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, token, ISSUED, MAX_AGE)


def test_v1_swapped_customer_id_is_refused() -> None:
    version, _, issued, mac = make_v1_token(SECRET, "c-42", ISSUED).split(".")
    other_id = base64.urlsafe_b64encode(b"c-43").rstrip(b"=").decode()
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, f"{version}.{other_id}.{issued}.{mac}", ISSUED, MAX_AGE)


def test_v1_extended_issue_time_is_refused() -> None:
    version, customer, issued, mac = make_v1_token(SECRET, "c-42", ISSUED).split(".")
    later = str(int(issued) + 365 * 86400)
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, f"{version}.{customer}.{later}.{mac}", ISSUED, MAX_AGE)


@MAKERS
def test_every_single_character_change_is_refused(make: Any) -> None:
    token = make(SECRET, "c-42", ISSUED)
    for index, char in enumerate(token):
        for replacement in {"A", "b", "0", "-", "_", "."} - {char}:
            forged = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(UnsubscribeTokenError):
                verify_token(SECRET, forged, ISSUED, MAX_AGE)


@MAKERS
def test_every_truncation_is_refused(make: Any) -> None:
    token = make(SECRET, "c-42", ISSUED)
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


@pytest.mark.parametrize("version", ["v0", "v3", "V2", "v1 ", "2"])
def test_unknown_version_is_refused_as_such(version: str) -> None:
    token = version + make_token(SECRET, "c-42", ISSUED)[2:]
    with pytest.raises(UnsubscribeTokenError, match="version"):
        verify_token(SECRET, token, ISSUED, MAX_AGE)


@MAKERS
def test_expiry_boundary(make: Any) -> None:
    token = make(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED + MAX_AGE, MAX_AGE) == "c-42"
    with pytest.raises(UnsubscribeTokenError, match="expired"):
        verify_token(SECRET, token, ISSUED + MAX_AGE + timedelta(seconds=1), MAX_AGE)


@MAKERS
def test_token_from_the_future_beyond_clock_skew_is_refused(make: Any) -> None:
    token = make(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED - timedelta(minutes=4), MAX_AGE) == "c-42"
    with pytest.raises(UnsubscribeTokenError, match="future"):
        verify_token(SECRET, token, ISSUED - timedelta(minutes=6), MAX_AGE)


@MAKERS
def test_time_zone_of_issue_and_check_does_not_matter(make: Any) -> None:
    helsinki = timezone(timedelta(hours=2))
    token = make(SECRET, "c-42", ISSUED.astimezone(helsinki))
    assert token == make(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, token, ISSUED.astimezone(helsinki), MAX_AGE) == "c-42"


@MAKERS
def test_error_is_a_lifecycle_error_and_does_not_echo_the_token(make: Any) -> None:
    token = make(OTHER_SECRET, "secret-customer-id", ISSUED)
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


# -- version 2: the customer id is not readable ----------------------------------------


@given(customer_id=st.text(min_size=4, max_size=200))
def test_a_v2_token_does_not_reveal_the_customer_id(customer_id: str) -> None:
    token = make_token(SECRET, customer_id, ISSUED)
    raw = customer_id.encode()
    assert token.startswith("v2.")
    assert customer_id not in token
    for alphabet in (base64.urlsafe_b64encode, base64.b64encode, base64.b32encode):
        shown = alphabet(raw).rstrip(b"=").decode()
        assert shown[:6] not in token.split(".", 2)[2] or len(shown) < 6
    assert raw.hex() not in token


def test_v2_tokens_of_ids_of_similar_length_have_one_length() -> None:
    lengths = {len(make_token(SECRET, "c-" + "9" * n, ISSUED)) for n in range(1, 14)}
    assert len(lengths) == 1


def test_a_v2_ciphertext_does_not_move_to_another_issue_time() -> None:
    _, seconds, sealed = make_token(SECRET, "c-42", ISSUED).split(".")
    later = str(int(seconds) + 86400)
    with pytest.raises(UnsubscribeTokenError, match="signature"):
        verify_token(SECRET, f"v2.{later}.{sealed}", ISSUED + timedelta(days=1), MAX_AGE)


def test_a_v2_ciphertext_is_not_a_v1_mac_and_back() -> None:
    v2 = make_token(SECRET, "c-42", ISSUED).split(".")
    v1 = make_v1_token(SECRET, "c-42", ISSUED).split(".")
    for forged in (f"v1.{v2[2]}.{v2[1]}.{v1[3]}", f"v2.{v1[2]}.{v1[3]}", f"v2.{v1[2]}.{v1[1]}"):
        with pytest.raises(UnsubscribeTokenError):
            verify_token(SECRET, forged, ISSUED, MAX_AGE)


@MAKERS
def test_open_token_says_when_the_link_was_issued(make: Any) -> None:
    issued = datetime(2026, 3, 1, 12, 0, 59, 999_000, tzinfo=UTC)
    request = open_token(SECRET, make(SECRET, "c-42", issued), issued, MAX_AGE)
    assert request.customer_id == "c-42"
    assert request.issued_at == issued.replace(microsecond=0)
    assert request.issued_at.tzinfo is not None


def test_old_v1_links_keep_working_until_they_expire() -> None:
    old = make_v1_token(SECRET, "c-42", ISSUED)
    assert verify_token(SECRET, old, ISSUED + MAX_AGE, MAX_AGE) == "c-42"
    with pytest.raises(UnsubscribeTokenError, match="expired"):
        verify_token(SECRET, old, ISSUED + MAX_AGE + timedelta(seconds=1), MAX_AGE)


@pytest.mark.parametrize(
    "token",
    [
        "v2",
        "v2.",
        "v2..",
        "v2.1767225600",
        "v2.1767225600.",
        "v2.1767225600.AAAA",
        "v2.1767225600." + "A" * 42 + ".x",
        "v2.-5." + "A" * 43,
        "v2.17e9." + "A" * 43,
        "v2.1767225600." + "A" * 41,  # 41 characters are no whole bytes
        "v2.1767225600." + "A" * 42 + "B",  # non-canonical: the last bits are not zero
        "v2.1767225600." + "A" * 2000,
        "v2.1767225600." + "A" * 42 + "=",
        "v2.1767225600.+" + "A" * 42,
        "v2.9999999999999." + "A" * 43,
    ],
)
def test_malformed_v2_tokens_are_refused(token: str) -> None:
    with pytest.raises(UnsubscribeTokenError):
        verify_token(SECRET, token, ISSUED, MAX_AGE)
