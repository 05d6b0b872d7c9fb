"""``lifecycle campaigns validate|schema`` through ``run()``, and the directory reader."""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from lifecycle.campaigns.loading.loader import CAMPAIGN_KEYS
from lifecycle.exceptions import CampaignErrors
from streams.campaign_files import read_campaign_dir
from streams.campaign_loading import load_campaign_set
from streams.cli.campaigns import add_parser, run
from streams.settings import load_settings

from .support import SHIPPED_DIR


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lifecycle")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def invoke(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(parse(*argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True)
def no_lifecycle_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validate reads LIFECYCLE_* settings; the developer's own must not leak in."""
    for name in list(os.environ):
        if name.upper().startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def campaign_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped campaigns, with the working directory above it."""
    shutil.copytree(SHIPPED_DIR, tmp_path / "campaigns")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "campaigns"


def test_validate_the_shipped_campaigns(campaign_dir: Path) -> None:
    code, out, err = invoke("campaigns", "validate")
    assert (code, out) == (0, "")
    assert err == "ok: 9 campaigns, 15 templates (locales: en, fi, nb, pl, sv) in campaigns\n"


def test_validate_reports_every_error_with_paths_as_given(campaign_dir: Path) -> None:
    winback = campaign_dir / "winback.yaml"
    winback.write_text(
        winback.read_text()
        .replace("gentle: 45%", "gentle: 40%")
        .replace("- orders_count >= 2", "- order_count >= 2")
    )
    template = campaign_dir / "templates" / "tier-up" / "pl.yaml"
    template.write_text(template.read_text().replace("{{ lifetime_value", "{{ lifetime_valeu"))
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert code == 1
    assert out.splitlines() == [
        "campaigns/templates/tier-up/pl.yaml:7:38: unknown template variable 'lifetime_valeu'; "
        "did you mean 'lifetime_value'?",
        "campaigns/winback.yaml:10:5: unknown attribute 'order_count'; did you mean "
        "'orders_count'?",
        "campaigns/winback.yaml:16:3: the split adds up to 95% (control 10% + gentle 40% + "
        "discount 45%); the shares must add up to 100%",
    ]
    assert err == "3 errors in 2 files\n"


def test_the_worker_refuses_an_invalid_set_with_the_same_messages(campaign_dir: Path) -> None:
    (campaign_dir / "broken.yaml").write_text("id: broken\ncategory: marketing\n")
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    with pytest.raises(CampaignErrors) as caught:
        load_campaign_set(load_settings())  # the worker's path: LIFECYCLE_CAMPAIGNS_DIR
    assert code == 1
    assert [str(e) for e in caught.value.errors] == out.splitlines()
    assert out.splitlines() == [
        "campaigns/broken.yaml:1:1: missing 'steps': add the journey, e.g. 'steps: "
        "[{send: TEMPLATE}]'",
        "campaigns/broken.yaml:1:1: missing 'trigger': add what starts the journey, e.g. "
        "'trigger: first_order' or 'trigger: {event: customer.signed_up}'",
    ]


def test_unreadable_files_are_errors_too(campaign_dir: Path) -> None:
    (campaign_dir / "latin1.yaml").write_bytes("id: caf\xe9\n".encode("latin-1"))
    files = read_campaign_dir("campaigns")
    assert [str(e) for e in files.unreadable] == [
        "campaigns/latin1.yaml:1:1: not UTF-8 text (invalid continuation byte); save as UTF-8"
    ]
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    assert code == 1
    assert "campaigns/latin1.yaml:1:1: not UTF-8 text" in out


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = invoke("campaigns", "validate", str(tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert "no such campaigns directory" in err


def test_schema_is_json_and_covers_every_key() -> None:
    code, out, _ = invoke("campaigns", "schema")
    schema = json.loads(out)
    assert code == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(CAMPAIGN_KEYS)
    assert all(p.get("description") for p in schema["properties"].values())
    assert schema["required"] == ["id", "category", "trigger", "steps"]


def test_template_schema() -> None:
    code, out, _ = invoke("campaigns", "schema", "--templates")
    schema = json.loads(out)
    assert code == 0
    assert set(schema["properties"]) == {"subject", "preheader", "text", "html"}


def test_the_schema_accepts_the_shipped_campaigns() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    code, out, _ = invoke("campaigns", "schema")
    validator = jsonschema.Draft202012Validator(json.loads(out))
    for path in sorted(SHIPPED_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        # YAML 1.1 reads an unquoted 10:00 as a number; the shipped files quote times.
        assert list(validator.iter_errors(document)) == [], path.name
    assert code == 0


def _diamond_audience(campaign_dir: Path) -> None:
    tier_up = campaign_dir / "tier-up.yaml"
    tier_up.write_text(tier_up.read_text() + "audience: tier == diamond\n")


def test_validate_uses_the_workers_spend_tiers(
    campaign_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _diamond_audience(campaign_dir)
    monkeypatch.setenv(
        "LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS", '[["silver",250],["diamond",9000]]'
    )
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert (code, out) == (0, "")
    assert err.startswith("ok: 9 campaigns")
    load_campaign_set(load_settings())  # and the worker agrees


def test_without_the_setting_the_tier_is_unknown_to_both(campaign_dir: Path) -> None:
    _diamond_audience(campaign_dir)
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    with pytest.raises(CampaignErrors) as caught:
        load_campaign_set(load_settings())
    assert code == 1
    assert [str(e) for e in caught.value.errors] == out.splitlines()
    assert len(out.splitlines()) == 1
    assert out.startswith("campaigns/tier-up.yaml:11:")
    assert "'diamond'" in out


def test_validate_reads_the_directory_from_the_settings(
    campaign_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_dir.rename(campaign_dir.parent / "marketing")
    monkeypatch.setenv("LIFECYCLE_CAMPAIGNS_DIR", "marketing")
    code, _, err = invoke("campaigns", "validate")
    assert code == 0
    assert err.endswith(" in marketing\n")


def test_default_locale_comes_from_the_settings_and_the_flag_overrides_it(
    campaign_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every shipped template has en, fi, nb, pl and sv; none has de
    monkeypatch.setenv("LIFECYCLE_CAMPAIGN__DEFAULT_LOCALE", "de")
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    assert code == 1
    assert out.count("\n") == len(read_campaign_dir("campaigns").templates) // 5
    code, out, _ = invoke("campaigns", "validate", "campaigns", "--default-locale", "sv")
    assert (code, out) == (0, "")


def test_validate_needs_no_worker_only_settings(campaign_dir: Path) -> None:
    # no LIFECYCLE_UNSUBSCRIBE_SECRET, no SMTP, no Kafka: validating needs none of them
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    assert (code, out) == (0, "")


def test_a_bad_setting_is_a_settings_error(
    campaign_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIFECYCLE_ENGINE__MILESTONES__SPEND_TIERS", '[["gold",900],["silver",250]]')
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert (code, out) == (2, "")
    assert err.startswith("lifecycle campaigns validate: invalid settings:\n")
    assert "LIFECYCLE_ENGINE__MILESTONES: spend_tiers must be listed from the lowest" in err


# -- nothing passes silently ---------------------------------------------------------------


def test_yaml_in_a_subfolder_is_an_error_not_ignored(campaign_dir: Path) -> None:
    (campaign_dir / "old").mkdir()
    shutil.copy(campaign_dir / "winback.yaml", campaign_dir / "old" / "winback-2025.yaml")
    (campaign_dir / "templates" / "drafts").mkdir()
    (campaign_dir / "templates" / "drafts" / "notes.txt").write_text("not YAML: not read\n")
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert code == 1
    assert out.splitlines() == [
        "campaigns/old/winback-2025.yaml:1:1: this file is not read: campaigns go directly "
        "in campaigns/ and templates in campaigns/templates/NAME/LOCALE.yaml; move it there, "
        "or out of campaigns/"
    ]
    assert err == "1 error in 1 file\n"
    with pytest.raises(CampaignErrors) as caught:  # and the worker will not start on it
        load_campaign_set(load_settings())
    assert [str(e) for e in caught.value.errors] == out.splitlines()


def test_an_empty_campaigns_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    code, out, err = invoke("campaigns", "validate", str(tmp_path / "campaigns"))
    shown = (tmp_path / "campaigns").as_posix()
    assert code == 1
    assert out == (
        f"{shown}:1:1: no campaign files in {shown}/; add one (e.g. {shown}/welcome.yaml), "
        "or point at the right directory\n"
    )
    assert err == "1 error in 1 file\n"


def test_templates_without_campaigns_are_still_an_empty_set(campaign_dir: Path) -> None:
    for path in campaign_dir.glob("*.yaml"):
        path.unlink()
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    assert code == 1
    assert out.startswith("campaigns:1:1: no campaign files in campaigns/;")


def test_a_template_missing_a_locale_others_have_is_a_warning(campaign_dir: Path) -> None:
    (campaign_dir / "templates" / "winback-gentle" / "pl.yaml").unlink()
    (campaign_dir / "templates" / "layout" / "sv.yaml").unlink()
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert code == 0
    assert out.splitlines() == [
        "campaigns/templates/layout/en.yaml:1:1: warning: 'layout' has no sv version, which "
        "other templates have; sv customers get the en text. Add campaigns/templates/layout/"
        "sv.yaml",
        "campaigns/templates/winback-gentle/en.yaml:1:1: warning: 'winback-gentle' has no pl "
        "version, which other templates have; pl customers get the en text. Add "
        "campaigns/templates/winback-gentle/pl.yaml",
    ]
    assert err == (
        "ok: 9 campaigns, 15 templates (locales: en, fi, nb, pl, sv) in campaigns, 2 warnings\n"
    )


def test_a_regional_locale_falls_back_to_its_language_without_a_warning(
    campaign_dir: Path,
) -> None:
    welcome = campaign_dir / "templates" / "welcome-1"
    shutil.copy(welcome / "sv.yaml", welcome / "sv-FI.yaml")
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    # the others have no sv-FI file, but sv-FI customers get their sv text: no warning
    assert (code, out) == (0, "")


def test_every_template_missing_a_seed_market_locale_is_a_warning(campaign_dir: Path) -> None:
    # Drop Finnish from two templates and Norwegian from one: three warnings, exit 0.
    (campaign_dir / "templates" / "tier-up" / "fi.yaml").unlink()
    (campaign_dir / "templates" / "welcome-2" / "fi.yaml").unlink()
    (campaign_dir / "templates" / "welcome-2" / "nb.yaml").unlink()
    code, out, err = invoke("campaigns", "validate", "campaigns")
    assert code == 0
    assert out.splitlines() == [
        "campaigns/templates/tier-up/en.yaml:1:1: warning: 'tier-up' has no fi version, which "
        "other templates have; fi customers get the en text. Add campaigns/templates/tier-up/"
        "fi.yaml",
        "campaigns/templates/welcome-2/en.yaml:1:1: warning: 'welcome-2' has no fi version, "
        "which other templates have; fi customers get the en text. Add "
        "campaigns/templates/welcome-2/fi.yaml",
        "campaigns/templates/welcome-2/en.yaml:1:1: warning: 'welcome-2' has no nb version, "
        "which other templates have; nb customers get the en text. Add "
        "campaigns/templates/welcome-2/nb.yaml",
    ]
    assert err.endswith(", 3 warnings\n")


def test_a_norwegian_template_under_no_covers_nb_customers(campaign_dir: Path) -> None:
    welcome = campaign_dir / "templates" / "welcome-1"
    (welcome / "nb.yaml").rename(welcome / "no.yaml")
    code, out, _ = invoke("campaigns", "validate", "campaigns")
    # nb customers fall back to no.yaml (and no customers to nb.yaml): no gap to warn about
    assert (code, out) == (0, "")
