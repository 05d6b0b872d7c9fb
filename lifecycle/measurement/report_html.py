"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no network.

Charts: a cohort retention heatmap, a funnel per campaign (entries, treated, converted per
arm), each variant against control with its intervals (fixed-horizon and always-valid),
and retention and churn over time. Tables beside them show the figures; every figure cell
carries ``data-path`` (where it is in ``lifecycle report --json``, e.g.
``campaigns.0.arms.1.entries``) and ``data-kind`` (how it is formatted, see
:func:`lifecycle.measurement.report_text.figure`), so a test can check the page shows
exactly the JSON's figures. All text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from lifecycle.measurement.report import Report, report_data
from lifecycle.measurement.report_text import RETENTION_COLUMNS, Kind, figure

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1d2330}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #dde}
h3{font-size:15px;margin-bottom:4px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:3px 8px;border-bottom:1px solid #eef}
th{text-align:left;background:#f5f6fa}td{text-align:right}td.l{text-align:left}
.verdict{font-weight:600}.ok{color:#12753a}.bad{color:#b3261e}.better{color:#12753a}.worse{color:#b3261e}.note{color:#667;font-size:12px}
svg{display:block;margin:8px 0}svg text{font:11px system-ui,sans-serif;fill:#1d2330}
"""


def _cell(data: dict[str, Any], path: str, kind: Kind) -> str:
    value: Any = data
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return f'<td data-path="{escape(path)}" data-kind="{kind}">{escape(figure(value, kind))}</td>'


#: Columns of the per-arm table and of the comparisons: (header, JSON field, format).
ARM_COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    ("entries", "entries", "int"),
    ("treated", "treated", "int"),
    ("messaged", "messaged", "int"),
    ("held out", "held_out", "int"),
    ("converted", "conversions", "int"),
    ("rate", "conversion_rate", "fraction"),
    ("revenue", "revenue", "money"),
    ("per entry", "revenue_per_entry", "money"),
)
SEND_TIME_COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    ("sends", "sends", "int"),
    ("treated", "treated", "int"),
    ("converted", "conversions", "int"),
    ("rate", "conversion_rate", "fraction"),
)
COMPARISON_COLUMNS: tuple[tuple[str, str, Kind], ...] = (
    ("rate", "variant_rate", "fraction"),
    ("control", "control_rate", "fraction"),
    ("uplift", "absolute_uplift", "fraction"),
    ("p", "z_test.p_value", "p"),
)


def _cells(
    data: dict[str, Any], base: str, columns: tuple[tuple[str, str, Kind], ...]
) -> list[str]:
    return [_cell(data, f"{base}.{name}", kind) for _, name, kind in columns]


def _label(text: str) -> str:
    return f'<td class="l">{escape(text)}</td>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _heat(rate: float | None) -> str:
    if rate is None:
        return "#f0f0f0"
    share = max(0.0, min(1.0, rate / 100))
    light = int(245 - share * 150)
    return f"rgb({light},{int(250 - share * 90)},{int(255 - share * 40)})"


def _cohort_chart(data: dict[str, Any]) -> str:
    rows = data["cohorts"]
    if not rows:
        return "<p>No cohorts yet.</p>"
    width = max(len(r["rates"]) for r in rows)
    cell, left, top = 44, 80, 20
    parts = [
        f'<svg role="img" aria-label="cohort retention heatmap" width="{left + cell * width + 10}" '
        f'height="{top + 24 * len(rows) + 10}">'
    ]
    for k in range(width):
        parts.append(f'<text x="{left + cell * k + 12}" y="14">m{k}</text>')
    for i, row in enumerate(rows):
        y = top + 24 * i
        parts.append(f'<text x="4" y="{y + 16}">{escape(row["cohort"])}</text>')
        for k, rate in enumerate(row["rates"]):
            x = left + cell * k
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell - 2}" height="22" fill="{_heat(rate)}"/>'
                f'<text x="{x + 4}" y="{y + 15}">{escape(figure(rate, "pct"))}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _funnel_chart(campaign: dict[str, Any]) -> str:
    arms = campaign["arms"]
    top = max((a["entries"] for a in arms), default=0) or 1
    bar, left = 300, 150
    parts = [
        f'<svg role="img" aria-label="funnel of {escape(campaign["campaign"])}" '
        f'width="{left + bar + 80}" height="{len(arms) * 66 + 8}">'
    ]
    colours = (("entries", "#9fb3d9"), ("treated", "#5b7fc7"), ("conversions", "#12753a"))
    for i, arm in enumerate(arms):
        for j, (field, colour) in enumerate(colours):
            y = 4 + i * 66 + j * 20
            length = bar * arm[field] / top
            parts.append(
                f'<text x="4" y="{y + 13}">{escape(arm["arm"])} {field}</text>'
                f'<rect x="{left}" y="{y}" width="{length:.1f}" height="16" fill="{colour}"/>'
                f'<text x="{left + length + 4:.1f}" y="{y + 13}">{arm[field]}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _uplift_chart(comparisons: list[dict[str, Any]]) -> str:
    spans = [
        v
        for c in comparisons
        for name in ("absolute_interval", "sequential_interval")
        if c[name] is not None
        for v in (c[name]["low"], c[name]["high"])
    ]
    spans += [c["absolute_uplift"] for c in comparisons if c["absolute_uplift"] is not None]
    if not spans:
        return "<p>No interval yet: an arm has no spread.</p>"
    low, high = min(*spans, 0.0), max(*spans, 0.0)
    pad = (high - low) * 0.1 or 0.01
    low, high = low - pad, high + pad
    left, width = 110, 420

    def x(value: float) -> float:
        return float(left + (value - low) / (high - low) * width)

    parts = [
        f'<svg role="img" aria-label="variants against control" width="{left + width + 20}" '
        f'height="{len(comparisons) * 40 + 30}">',
        f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{len(comparisons) * 40 + 10}" '
        'stroke="#888" stroke-dasharray="3,3"/>',
        f'<text x="{x(0) + 3:.1f}" y="{len(comparisons) * 40 + 24}">0</text>',
    ]
    for i, c in enumerate(comparisons):
        y = 18 + i * 40
        parts.append(f'<text x="4" y="{y + 4}">{escape(c["variant"])}</text>')
        for name, colour, offset, thick in (
            ("sequential_interval", "#b0b8c8", 0, 8),
            ("absolute_interval", "#3a5ba0", 0, 3),
        ):
            interval = c[name]
            if interval is not None:
                parts.append(
                    f'<line x1="{x(interval["low"]):.1f}" y1="{y + offset}" '
                    f'x2="{x(interval["high"]):.1f}" y2="{y + offset}" stroke="{colour}" '
                    f'stroke-width="{thick}"/>'
                )
        if c["absolute_uplift"] is not None:
            parts.append(
                f'<circle cx="{x(c["absolute_uplift"]):.1f}" cy="{y}" r="4" fill="#1d2330"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _trend_chart(data: dict[str, Any]) -> str:
    rows = data["retention"]
    points = [
        (i, r["figures"]["retention_rate"], r["figures"]["churn_rate"]) for i, r in enumerate(rows)
    ]
    if not any(p[1] is not None for p in points):
        return "<p>No period with customers at its start yet.</p>"
    left, height = 40, 160
    width = min(1100, max(300, 80 * (len(rows) - 1)))
    step = width / max(1, len(rows) - 1)
    # A label every ~80 px: every period, or every n-th of many.
    label_every = max(1, round(80 / step)) if step else 1

    def y(value: float) -> float:
        return 10 + (100 - value) / 100 * height

    parts = [
        f'<svg role="img" aria-label="retention and churn over time" width="{left + width + 60}" '
        f'height="{height + 40}">',
        f'<line x1="{left}" y1="{y(0)}" x2="{left + width}" y2="{y(0)}" stroke="#ccc"/>',
        f'<text x="4" y="{y(100) + 4}">100%</text><text x="4" y="{y(0) + 4}">0%</text>',
    ]
    for index, colour, name in ((1, "#12753a", "retention"), (2, "#b3261e", "churn")):
        line = [(left + p[0] * step, y(p[index])) for p in points if p[index] is not None]
        if line:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in line)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            parts.append(f'<text x="{line[-1][0] + 4:.1f}" y="{line[-1][1] + 4:.1f}">{name}</text>')
    for i, row in enumerate(rows):
        if i % label_every == 0:
            parts.append(
                f'<text x="{left + i * step - 20:.1f}" y="{height + 32}">'
                f"{escape(row['period'])}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _campaign_section(data: dict[str, Any], index: int) -> str:
    campaign = data["campaigns"][index]
    base = f"campaigns.{index}.arms"
    headers = ("arm", *(header for header, _, _ in ARM_COLUMNS))
    rows = [
        [_label(arm["arm"]), *_cells(data, f"{base}.{i}", ARM_COLUMNS)]
        for i, arm in enumerate(campaign["arms"])
    ]
    parts = [
        f"<h3>{escape(campaign['name'])} "
        f'<span class="note">({escape(campaign["campaign"])})</span></h3>',
        _table(headers, rows),
        _funnel_chart(campaign),
    ]
    if campaign["send_times"]:
        path = f"campaigns.{index}.send_times"
        timing_rows = [
            [_label(row["send_time"]), *_cells(data, f"{path}.{i}", SEND_TIME_COLUMNS)]
            for i, row in enumerate(campaign["send_times"])
        ]
        parts.append(_table(("send time", *(h for h, _, _ in SEND_TIME_COLUMNS)), timing_rows))
        parts.append(
            '<p class="note">Best-time sends: optimised at the customer\'s most active hour, '
            "fallback with too little history; not a randomised comparison.</p>"
        )
    experiment = campaign["experiment"]
    if experiment is not None and experiment["comparisons"]:
        path = f"campaigns.{index}.experiment.comparisons"
        comparison_rows = [
            [
                _label(c["variant"]),
                *_cells(data, f"{path}.{i}", COMPARISON_COLUMNS),
                f'<td class="l verdict {c["verdict"].replace(" ", "-")}">'
                f"{escape(c['verdict'])}</td>",
            ]
            for i, c in enumerate(experiment["comparisons"])
        ]
        parts.append(
            _table(("variant", *(h for h, _, _ in COMPARISON_COLUMNS), "verdict"), comparison_rows)
        )
        parts.append(_uplift_chart(experiment["comparisons"]))
        parts.append(
            '<p class="note">Dark bar: 95% fixed-horizon interval of the uplift; light bar: '
            "the always-valid interval the verdict uses.</p>"
        )
        for c in experiment["comparisons"]:
            parts.append(f'<p class="note">{escape(c["variant"])}: {escape(c["explanation"])}</p>')
        srm = experiment["sample_ratio"]
        shown = "mismatch" if srm["mismatch"] else "no mismatch"
        parts.append(
            f'<p class="note">Split against the configured shares: {shown} (p '
            f"{escape(figure(srm['p_value'], 'p'))}).</p>"
        )
    if campaign["shares"]:
        windows = campaign["shares"]
        variants = sorted({v for w in windows for v in w["shares"]})
        base = f"campaigns.{index}.shares"
        share_rows = [
            [
                _label(w["window"][:16].replace("T", " ")),
                _cell(data, f"{base}.{i}.partitions", "int"),
                *(
                    _cell(data, f"{base}.{i}.shares.{v}", "fraction")
                    if v in w["shares"]
                    else "<td>-</td>"
                    for v in variants
                ),
            ]
            for i, w in enumerate(windows)
        ]
        parts.append(
            '<p class="note">Adaptive shares in force from each window\'s start (UTC), of all '
            "customers, the mean over the partitions that fixed them:</p>"
        )
        parts.append(_table(("window", "partitions", *variants), share_rows))
    return "".join(parts)


def _retention_section(data: dict[str, Any]) -> str:
    headers = ("period", *(header for header, _, _ in RETENTION_COLUMNS))
    rows = [
        [
            _label(row["period"]),
            *(
                _cell(data, f"retention.{i}.figures.{name}", kind)
                for _, name, kind in RETENTION_COLUMNS
            ),
        ]
        for i, row in enumerate(data["retention"])
    ]
    return _table(headers, rows)


def _cohort_table(data: dict[str, Any]) -> str:
    rows = data["cohorts"]
    if not rows:
        return ""
    width = max(len(r["rates"]) for r in rows)
    table_rows = [
        [
            _label(row["cohort"]),
            _cell(data, f"cohorts.{i}.size", "int"),
            *(_cell(data, f"cohorts.{i}.rates.{k}", "pct") for k in range(len(row["rates"]))),
            *("<td></td>",) * (width - len(row["rates"])),
        ]
        for i, row in enumerate(rows)
    ]
    return _table(("cohort", "size", *(f"m{k}" for k in range(width))), table_rows)


def render_html(
    report: Report,
    *,
    title: str = "Campaign report",
    lead: str = "",
    refresh_seconds: int | None = None,
) -> str:
    """The page. ``lead`` is HTML put before the campaigns, as given (its maker escapes
    it: the worker's overview puts its live figures there); ``refresh_seconds`` makes the
    page reload itself (``<meta http-equiv=refresh>``, allowed by the page's policy)."""
    data = report_data(report)
    campaigns = "".join(_campaign_section(data, i) for i in range(len(data["campaigns"])))
    refresh = (
        ""
        if refresh_seconds is None
        else f'<meta http-equiv="refresh" content="{refresh_seconds}">'
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>{refresh}'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{lead}"
        f"<h2>Campaigns</h2>{campaigns or '<p>No campaign entries yet.</p>'}"
        f"<h2>Retention by {escape(report.granularity)}</h2>"
        f"{_trend_chart(data)}{_retention_section(data)}"
        f"<h2>Cohorts by signup month</h2>{_cohort_chart(data)}{_cohort_table(data)}"
        "</body></html>\n"
    )
