"""Email addresses the worker can send to: the dot-atom subset of RFC 5321 and RFC 5322.

One check for the event contract (ingest refuses an event carrying any other address)
and for delivery (the SMTP envelope and the ``To`` header use the form returned here),
so an address that passed ingest can never fail, or crash, when the email is built.

Invariants (a property test checks the first two against the email package):

* every address :func:`ascii_address` accepts is parsed by ``email.headerregistry``
  back to the same ``addr_spec``, with no defects, and needs neither quoting nor
  SMTPUTF8 in an SMTP envelope;
* the result is ASCII, at most 254 octets (RFC 5321's 256-octet path minus the angle
  brackets), local part at most 64 octets, domain at most 253;
* anything else raises ``ValueError`` with a short reason that never repeats the address
  (addresses are personal data and reasons end up in logs and dead-letter headers).

What is accepted:

* local part: atoms of RFC 5322 ``atext`` (letters, digits and
  ``! # $ % & ' * + - / = ? ^ _ ` { | } ~``) joined by single dots: no leading,
  trailing or doubled dot;
* domain: two or more labels (one is enough for the worker's own sender address) of
  letters, digits and hyphens, 1-63 characters each, not starting or ending with a
  hyphen, the last one not all digits. An international domain (``kund@åäö.se``) is
  accepted and sent as its IDNA 2008 A-labels (``xn--4cab6c.se``, UTS #46 mapping
  without the transitional ``ß``->``ss`` rule).

Refused on purpose: quoted local parts (``"john doe"@example.com``) and comments, which
few mail systems handle alike; domain literals (``user@[192.0.2.1]``); non-ASCII local
parts (they need SMTPUTF8, which the worker does not use).
"""

from __future__ import annotations

import re

import idna

__all__ = ["MAX_ADDRESS_LENGTH", "ascii_address"]

MAX_ADDRESS_LENGTH = 254
_MAX_LOCAL_LENGTH = 64
_MAX_DOMAIN_LENGTH = 253
# The longest input worth looking at: an international domain can be written with more
# characters than its A-label form, but not with four times as many.
_MAX_INPUT_LENGTH = 4 * MAX_ADDRESS_LENGTH

_ATOM = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def ascii_address(address: str, *, dotted_domain: bool = True) -> str:
    """The address in the ASCII form to send to, or ``ValueError`` saying what is wrong.

    ``dotted_domain=False`` also accepts a one-label domain (``lifecycle@localhost``), for
    the worker's own sender addresses; a customer's address always needs a dot.
    Surrounding whitespace is not stripped: the caller decides what it accepts.
    """
    if len(address) > _MAX_INPUT_LENGTH:
        raise ValueError(f"is longer than {MAX_ADDRESS_LENGTH} characters")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("is not an email address (local-part@domain)")
    if not local.isascii():
        raise ValueError("has a non-ASCII local part (that needs SMTPUTF8, which is not used)")
    if len(local) > _MAX_LOCAL_LENGTH:
        raise ValueError(f"has a local part longer than {_MAX_LOCAL_LENGTH} characters")
    if not _LOCAL.fullmatch(local):
        raise ValueError(
            "has a local part that is not a dot-atom: letters, digits and "
            "!#$%&'*+-/=?^_`{|}~, dots only between them (no quoted local parts)"
        )
    ascii_domain = _ascii_domain(domain, dotted=dotted_domain)
    result = f"{local}@{ascii_domain}"
    if len(result) > MAX_ADDRESS_LENGTH:
        raise ValueError(f"is longer than {MAX_ADDRESS_LENGTH} characters")
    return result


def _ascii_domain(domain: str, *, dotted: bool) -> str:
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
        except (UnicodeError, ValueError):
            raise ValueError("has a domain that is not a valid international name") from None
    if len(domain) > _MAX_DOMAIN_LENGTH:
        raise ValueError(f"has a domain longer than {_MAX_DOMAIN_LENGTH} characters")
    labels = domain.split(".")
    if dotted and len(labels) < 2:
        raise ValueError("has a domain without a dot (e.g. example.com)")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "has a domain with an empty or invalid label: letters, digits and '-', "
            "1-63 characters, no '-' at either end"
        )
    if labels[-1].isdigit():
        raise ValueError("has a domain whose last label is a number (IP literals are refused)")
    return domain
