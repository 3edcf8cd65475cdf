"""bench/charts.py: the charts beside bench/RESULTS.md say what the figures say (shares of each target, the scale
run's rows), and are well-formed SVG that a browser shows (tests/test_browser renders pages; here the XML)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from bench import charts

RESULTS = {
    "issuance": {
        "target": 30_000,
        "rows": [
            {"certificates": 10_000, "per_second": 9_000, "share_of_limit": 0.1, "peak_rss_mb": 200},
            {"certificates": 1_000_000, "per_second": 15_000, "share_of_limit": 0.25, "peak_rss_mb": 400},
        ],
    },
    "verification": {"verify_many_per_second": 40_000},
    "gateway": {
        "rows": [
            {"connections": 1, "workers": 1, "ratio": 0.2, "p99_ms": 1.0},
            {"connections": 10, "workers": 2, "ratio": 0.45, "p99_ms": 20.0},
        ]
    },
    "replay": {"decisions": 100_000, "decide_per_second": 5_000, "per_second": 80_000},
    "evidence": {"build_max_ms": 25.0},
    "gas": {"batched": [{"batch_size": 10_000, "gas_per_certificate": 5.0}]},
    "witness": {"error": "RuntimeError: not run"},
}


def test_each_target_is_drawn_as_its_share_with_floors_and_bounds_alike() -> None:
    shares = {bar.label.split(":")[0]: round(bar.share, 3) for bar in charts.target_bars(RESULTS)}
    assert shares == {
        "issuance at 1,000,000": 0.5,  # the largest size, not the first row
        "issuance at 1,000,000, share of the machine's limit": 0.5,
        "issuance at 1,000,000, peak memory": 1.25,  # a bound: 500 ÷ 400
        "verify_many": 1.0,
        "gateway, 2 workers, 10 connections": 0.5,  # only the 10-connection rows carry the target
        "gateway, 2 workers, 10 connections, p99": 0.5,
        "decide (100,000)": 0.25,
        "replay (100,000)": 2.0,
        "evidence bundle, slowest build": 2.0,
        "gas per certificate at 10,000 a batch": 2.0,
    }
    assert charts.target_bars({}) == []  # a run of other sections draws no target


def test_the_svgs_are_well_formed_and_colour_met_and_missed_apart() -> None:
    svg = charts.targets_svg(charts.target_bars(RESULTS), "title <&> quoted")
    root = ET.fromstring(svg)  # noqa: S314 - our own output; well-formed, the title escaped
    fills = [r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert fills.count(charts._MET) == 5 and fills.count(charts._MISSED) == 5


def test_the_scale_table_is_read_from_its_markdown() -> None:
    markdown = (Path(charts.HERE) / "SCALE.md").read_text()
    rows = charts.scale_rows(markdown)
    assert len(rows) == 10 and rows[0]["certificates"] == 1_000_000 and rows[-1]["certificates"] == 10_000_000
    assert all(0 < r["bytes"] < 1_000 and 0 < r["peak_rss_mb"] < 500 for r in rows)
    ET.fromstring(charts.scale_svg(rows, "scale"))  # noqa: S314 - our own output
    assert charts.scale_rows("| certificates | seconds |\n|---:|---:|\n| not a row |") == []
