"""Settings read from the environment: defaults that depend on each other, and clear refusals."""

from __future__ import annotations

import pytest

from streams.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(("mode", "port"), [("none", 25), ("starttls", 587), ("tls", 465)])
def test_the_smtp_port_follows_the_tls_mode_unless_set(
    monkeypatch: pytest.MonkeyPatch, mode: str, port: int
) -> None:
    monkeypatch.setenv("LIFECYCLE_SMTP_TLS", mode)
    assert load_settings().smtp.effective_port == port
    monkeypatch.setenv("LIFECYCLE_SMTP_PORT", "2525")
    assert load_settings().smtp.effective_port == 2525


def test_a_nested_value_that_is_not_json_is_named_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_ENGINE__STAGES__AT_RISK_AFTER_DAYS", "45")
    monkeypatch.setenv("LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS", '[["gold", 500]')
    with pytest.raises(SettingsError) as refused:
        load_settings()
    [line] = str(refused.value).splitlines()[1:]
    assert line.strip().startswith("LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS: not valid JSON")


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://mail.shop.example", True),
        ("https://mail.shop.example/", True),
        ("http://localhost:6066", True),
        ("http://127.0.0.1:8080", True),
        ("http://mail.shop.example", False),
        ("mail.shop.example", False),
        ("javascript:alert(1)", False),
    ],
)
def test_unsubscribe_links_need_an_https_base_except_on_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str, accepted: bool
) -> None:
    monkeypatch.setenv("LIFECYCLE_PUBLIC_BASE_URL", url)
    if accepted:
        assert load_settings().web.public_base_url == url.rstrip("/")
    else:
        with pytest.raises(SettingsError, match="LIFECYCLE_PUBLIC_BASE_URL"):
            load_settings()


def test_the_rocksdb_store_without_its_package_is_refused_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "rocksdict" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("LIFECYCLE_STORE", "rocksdb")
    with pytest.raises(SettingsError, match=r"LIFECYCLE_STORE: .*\[rocksdb\]"):
        load_settings()
    monkeypatch.setenv("LIFECYCLE_STORE", "memory")
    assert load_settings().store == "memory"


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("unsubscribe@shop.example", "unsubscribe@shop.example"),
        ("mailto:unsubscribe@shop.example", "unsubscribe@shop.example"),
        ("unsubscribe@shop.example?subject=x", None),
        ("not an address", None),
    ],
)
def test_the_unsubscribe_mailbox_is_a_plain_address(
    monkeypatch: pytest.MonkeyPatch, value: str, stored: str | None
) -> None:
    monkeypatch.setenv("LIFECYCLE_UNSUBSCRIBE_MAILTO", value)
    if stored is None:
        with pytest.raises(SettingsError, match="LIFECYCLE_UNSUBSCRIBE_MAILTO"):
            load_settings()
    else:
        assert load_settings().unsubscribe.mailto == stored
