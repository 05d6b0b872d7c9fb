"""The bytes of a stored customer state: compact, versioned, and readable forever.

A state is its model's compact JSON (no defaults, as before), deflated against a preset
dictionary of the state's field names and common values: the names cost a back-reference
of two or three bytes instead of their letters, and repeated timestamps, ids and
structures shrink like any repeated text. Because the body is still the model's own
JSON, a field added to :class:`~lifecycle.state.CustomerState` (or to any model inside
it) round-trips with no change here: it is only less compressed until a later dictionary
names it.

Formats, told apart by the first byte:

- ``{``: plain JSON, as every state was written before this codec. Still decoded, so
  tables and changelogs written by earlier versions keep working.
- ``0x01``: raw deflate (no zlib header or checksum: the Kafka record has a CRC) with
  :data:`DICTIONARY_V1`. A dictionary is part of the format: it must never change. A
  better one is a new version byte beside it, and the old ones stay for decoding.

Anything else is not a state: `stored_json` raises ``ValueError`` (the caller treats the
stored bytes as unreadable, never as a new customer).

The encoder's window and hash sizes are not part of the format: a decoder with the full
32 KiB window reads a stream deflated with any smaller one. The encoder uses an 8 KiB
window (the dictionary and a typical state fit in it, so the bytes are as small as with
32 KiB) and a small hash, so one compressor allocates about 96 KiB instead of 256 KiB. A
state is encoded with a fresh compressor every time, and with glibc a 256 KiB allocation
freed at the top of the heap is given back to the system and faulted in again at the next
state: that, not compression, was more than half of what encoding cost (85 us per state
of the dev traffic with the 32 KiB window, 38 us with this one).
"""

from __future__ import annotations

import zlib

__all__ = ["DICTIONARY_V1", "FORMAT_JSON", "FORMAT_V1", "stored_form", "stored_json"]

FORMAT_JSON = ord("{")
FORMAT_V1 = 0x01

#: The field names and common values of states written in 2026; zlib favours what is
#: near the end of a dictionary, so the most frequent strings come last.
DICTIONARY_V1 = (
    b'"suppressed_reason":"consent_changed_at":"conversion_deadline":"exit_reason":"exited_at":'
    b'"converted_at":"revenue":"trigger":"data":"wake_at":"entered_at":"cause":"variant":'
    b'"step":"entries":"active":true,"active":false,"open_tickets":["ticket_days":['
    b'"last_csat":"last_ces":"last_nps":"last_nps_at":"refunded":"last_order_id":'
    b'"last_total":"gross_spend":"currency":"SEK","currency":"GBP","currency":"EUR",'
    b'"purchase_days":"first_purchase_day":"last_purchase_day":"recent_purchase_days":['
    b'"interval_count":"interval_mean_days":"interval_m2":"recent_orders":"first_at":'
    b'"last_at":"count":"cohort":"order_day_before_last":"status_changes":['
    b'"overdue_signalled_for":"churn_signalled_for":"engagement_decline_signalled":true,'
    b'"anniversaries_signalled":"milestones":["first_order","second_order",'
    b'"stage":"prospect","stage":"new","stage":"active","stage":"at_risk","stage":"lapsed",'
    b'"stage":"reactivated","stage_since":"last_login_at":"first_seen_at":'
    b'"profile":{"email":"name":"locale":"en-GB","locale":"sv-SE","timezone":"Europe/'
    b'"marketing_consent":true,"signed_up_at":"support":{"orders":{"tally":{'
    b'"category":"marketing"},{"at":"category":"transactional"},{"at":"campaign":"'
    b'"sends":[{"at":"journeys":{"next_due_at":"recent_events":"facts":[["'
    b'"activity":[[,0,1],[,1,0],[,"clock":"2026-{"customer_id":"'
    b'T00:00:00Z"T12:00:00Z",":00Z","'
)

_ENCODE_LEVEL = 6
#: Raw deflate with an 8 KiB window; the decoder's is 32 KiB (``-15``), which reads both.
_ENCODE_WINDOW_BITS = -13
_ENCODE_MEMORY_LEVEL = 7
_DECODE_WINDOW_BITS = -15


def stored_form(json_bytes: bytes) -> bytes:
    """The stored form of a state's JSON."""
    deflate = zlib.compressobj(
        _ENCODE_LEVEL,
        zlib.DEFLATED,
        _ENCODE_WINDOW_BITS,
        _ENCODE_MEMORY_LEVEL,
        zdict=DICTIONARY_V1,
    )
    return bytes((FORMAT_V1,)) + deflate.compress(json_bytes) + deflate.flush()


def stored_json(raw: bytes) -> bytes:
    """The JSON of a stored state, whichever format wrote it."""
    if not raw:
        raise ValueError("an empty value is not a state")
    if raw[0] == FORMAT_JSON:
        return raw
    if raw[0] == FORMAT_V1:
        inflate = zlib.decompressobj(_DECODE_WINDOW_BITS, zdict=DICTIONARY_V1)
        try:
            body = inflate.decompress(raw[1:]) + inflate.flush()
        except zlib.error as exc:
            raise ValueError(f"a damaged state: {exc}") from None
        if not inflate.eof:
            raise ValueError("a truncated state")
        return body
    raise ValueError(f"unknown state format {raw[0]:#04x}")
