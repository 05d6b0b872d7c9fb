"""The address rules of the contract and of delivery agree with the email package."""

from __future__ import annotations

from email.headerregistry import Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.addresses import MAX_ADDRESS_LENGTH, ascii_address

ATEXT = "abcXYZ019!#$%&'*+-/=?^_`{|}~"


@pytest.mark.parametrize(
    "address",
    [
        "john@example.com",
        "john.smith@example.com",
        "j.o.h.n+tag@mail.example.co.uk",
        "!#$%&'*+-/=?^_`{|}~@example.com",
        "a@b.c0",
        "x" * 64 + "@example.com",
        "a@" + ".".join(["b" * 63] * 3) + "." + "c" * 57,
        "kund@åäö.se",
        "kund@straße.de",
    ],
)
def test_dot_atom_addresses_are_accepted(address: str) -> None:
    result = ascii_address(address)
    assert result.isascii()
    assert len(result) <= MAX_ADDRESS_LENGTH
    assert Address(addr_spec=result).addr_spec == result


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("john.@example.com", "dot-atom"),
        (".john@example.com", "dot-atom"),
        ("jo..hn@example.com", "dot-atom"),
        ('"john doe"@example.com', "dot-atom"),
        ("john doe@example.com", "dot-atom"),
        ("jo(hn)@example.com", "dot-atom"),
        ("john@[192.0.2.1]", "label"),
        ("john@example..com", "label"),
        ("john@.example.com", "label"),
        ("john@example.com.", "label"),
        ("john@-example.com", "label"),
        ("john@example-.com", "label"),
        ("john@exa_mple.com", "label"),
        ("john@example.123", "number"),
        ("john@localhost", "without a dot"),
        ("åsa@example.com", "non-ASCII local part"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("a@" + "b" * 64 + ".com", "label"),
        ("a@" + ".".join(["b" * 63] * 4), "longer than 253"),
        ("x" * 64 + "@" + ".".join(["b" * 62] * 3) + ".com", "longer than 254"),
        ("john@exam\u200dple.com", "international"),
        ("@example.com", "not an email address"),
        ("john@", "not an email address"),
        ("john", "not an email address"),
        ("x" * 5000, "longer than 254"),
    ],
)
def test_other_addresses_are_refused_with_a_reason_that_does_not_repeat_them(
    address: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why) as info:
        ascii_address(address)
    assert address not in str(info.value)
    assert "john" not in str(info.value)


def test_the_sender_may_use_a_one_label_domain() -> None:
    assert ascii_address("lifecycle@localhost", dotted_domain=False) == "lifecycle@localhost"


_atoms = st.text(st.sampled_from(ATEXT), min_size=1, max_size=10)
_labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
dot_atom_addresses = st.builds(
    lambda local, labels, tld: ".".join(local) + "@" + ".".join([*labels, tld]),
    st.lists(_atoms, min_size=1, max_size=5),
    st.lists(_labels, min_size=1, max_size=3),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)


@settings(max_examples=300, deadline=None)
@given(dot_atom_addresses)
def test_every_dot_atom_address_within_the_limits_is_accepted(address: str) -> None:
    assert ascii_address(address) == address


@settings(max_examples=500, deadline=None)
@given(st.one_of(dot_atom_addresses, st.text(max_size=80), st.text(ATEXT + ".@-", max_size=40)))
def test_whatever_is_accepted_the_email_package_parses_to_the_same_address(text: str) -> None:
    try:
        result = ascii_address(text)
    except ValueError:
        return
    parsed = Address(addr_spec=result)
    assert parsed.addr_spec == result
    assert "@" not in parsed.username
    assert result.isascii()
    assert " " not in result
