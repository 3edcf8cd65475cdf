"""Charts of the benchmark figures, as SVG files beside bench/RESULTS.md (no plotting library needed).

- ``targets.svg``: every issue-18 target, this run's figure as a share of it (100 % = met; for a ceiling such as
  a latency or a memory bound, the bound divided by the figure, so longer is better everywhere).
- ``scale.svg``: the 10,000,000-certificate scale run (bench/SCALE.md): CPU-seconds per million, peak memory and
  bytes per certificate as the store grows, each against its bound.

``python -m bench.charts`` redraws both from bench/results.json and bench/SCALE.md; ``python -m bench`` and
``python -m bench --scale`` draw them after each run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS_SVG = HERE / "targets.svg"
SCALE_SVG = HERE / "scale.svg"

_FONT = "font-family='DejaVu Sans, Arial, sans-serif'"
_MET, _MISSED, _AXIS = "#2e7d32", "#c62828", "#555"


@dataclass(frozen=True)
class Bar:
    label: str  # what is measured, and the figure against its target
    share: float  # figure ÷ target (a floor) or target ÷ figure (a ceiling): ≥ 1 is met


def target_bars(results: dict[str, Any]) -> list[Bar]:
    """One bar per issue-18 target that this run measured (a section that did not run has none)."""
    bars: list[Bar] = []

    def floor(label: str, figure: float, target: float, unit: str = "/s") -> None:
        bars.append(Bar(f"{label}: {figure:,.0f}{unit} of ≥ {target:,.0f}{unit}", figure / target))

    def ceiling(label: str, figure: float, bound: float, unit: str) -> None:
        bars.append(Bar(f"{label}: {figure:,.1f} {unit} of ≤ {bound:,.0f} {unit}", bound / figure if figure else 0))

    issuance = results.get("issuance") or {}
    rows = issuance.get("rows") or []
    if rows:
        top = max(rows, key=lambda r: r["certificates"])
        at = f"issuance at {top['certificates']:,}"
        floor(at, top["per_second"], issuance.get("target", 30_000))
        bars.append(
            Bar(
                f"{at}, share of the machine's limit: {top['share_of_limit']:.0%} of ≥ 50%", top["share_of_limit"] / 0.5
            )
        )
        ceiling(f"{at}, peak memory", top["peak_rss_mb"], 500, "MB")
    verification = results.get("verification") or {}
    if "verify_many_per_second" in verification:
        floor("verify_many", verification["verify_many_per_second"], 40_000)
    for row in (results.get("gateway") or {}).get("rows") or []:
        if row.get("connections") == 10 and "ratio" in row:
            who = f"gateway, {row['workers']} worker{'s' if row['workers'] > 1 else ''}, 10 connections"
            bars.append(Bar(f"{who}: {row['ratio']:.0%} of a constant endpoint, of ≥ 90%", row["ratio"] / 0.9))
            ceiling(f"{who}, p99", row["p99_ms"], 10, "ms")
    replay = results.get("replay") or {}
    if "decide_per_second" in replay:
        floor(f"decide ({replay['decisions']:,})", replay["decide_per_second"], 20_000)
        floor(f"replay ({replay['decisions']:,})", replay["per_second"], 40_000)
    evidence = results.get("evidence") or {}
    if "build_max_ms" in evidence:
        ceiling("evidence bundle, slowest build", evidence["build_max_ms"], 50, "ms")
    gas = results.get("gas") or {}
    for row in gas.get("batched") or []:
        if row.get("batch_size") == 10_000 and row.get("gas_per_certificate"):
            ceiling("gas per certificate at 10,000 a batch", row["gas_per_certificate"], 10, "gas")
    return bars


def targets_svg(bars: list[Bar], title: str) -> str:
    """Horizontal bars, each a figure's share of its target, with the 100 % line; capped at 200 %."""
    left, bar_w, row_h, top = 16, 560, 34, 48
    width, height = left + bar_w + 80, top + row_h * len(bars) + 30
    scale = bar_w / 2.0  # 200 % fills the width

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"{_FONT} font-size='12'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<text x='{left}' y='22' font-size='15' font-weight='bold'>{escape(title)}</text>",
        f"<text x='{left}' y='38' fill='{_AXIS}'>each figure as a share of its target (a bound: the bound ÷ the "
        "figure); 100 % = met</text>",
    ]
    for i, bar in enumerate(bars):
        y = top + i * row_h
        share = max(0.0, min(bar.share, 2.0))
        colour = _MET if bar.share >= 1 else _MISSED
        out.append(f"<text x='{left}' y='{y + 11}'>{escape(bar.label)}</text>")
        out.append(f"<rect x='{left}' y='{y + 15}' width='{bar_w}' height='12' fill='#eee'/>")
        out.append(f"<rect x='{left}' y='{y + 15}' width='{share * scale:.1f}' height='12' fill='{colour}'/>")
        shown = f"{bar.share:.0%}" + (" (capped)" if bar.share > 2 else "")
        out.append(f"<text x='{left + bar_w + 6}' y='{y + 26}' fill='{colour}'>{shown}</text>")
    line_x = left + scale
    for i in range(len(bars)):  # the 100 % mark across each bar, not through the labels
        y = top + i * row_h
        out.append(f"<line x1='{line_x}' y1='{y + 13}' x2='{line_x}' y2='{y + 29}' stroke='#000' stroke-width='1.5'/>")
    out.append(f"<text x='{line_x}' y='{height - 10}' text-anchor='middle' fill='{_AXIS}'>100 %</text>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def scale_rows(markdown: str) -> list[dict[str, float]]:
    """The growth table of bench/SCALE.md: per step, certificates, CPU-seconds, peak RSS MB, bytes per certificate."""
    rows = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or not re.fullmatch(r"[\d,]+", cells[0]):
            continue
        number = [float(c.replace(",", "")) for c in cells[:9]]
        rows.append({"certificates": number[0], "cpu_seconds": number[3], "peak_rss_mb": number[5], "bytes": number[8]})
    return rows


def scale_svg(rows: list[dict[str, float]], title: str) -> str:
    """Three small panels over the store's size: CPU-s per million (flat is the goal), peak RSS (≤ 500 MB) and
    bytes per certificate (≤ 1,000)."""
    panels = [
        ("CPU-seconds per million", "cpu_seconds", None),
        ("peak memory, MB (bound 500)", "peak_rss_mb", 500.0),
        ("bytes per certificate (bound 1,000)", "bytes", 1000.0),
    ]
    pw, ph, gap, top, left = 250, 170, 56, 50, 46
    width, height = left + len(panels) * (pw + gap), top + ph + 46
    n_max = max(r["certificates"] for r in rows)
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 {width} {height}' "
        f"{_FONT} font-size='11'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
        f"<text x='{left}' y='22' font-size='15' font-weight='bold'>{escape(title)}</text>",
    ]
    for p, (name, key, bound) in enumerate(panels):
        x0 = left + p * (pw + gap)
        values = [r[key] for r in rows]
        y_max = max([*values, bound or 0]) * 1.15
        out.append(f"<text x='{x0}' y='{top - 8}' font-weight='bold'>{escape(name)}</text>")
        out.append(f"<rect x='{x0}' y='{top}' width='{pw}' height='{ph}' fill='none' stroke='{_AXIS}'/>")
        for frac in (0.0, 0.5, 1.0):
            ty = top + ph - frac * ph
            out.append(
                f"<text x='{x0 - 4}' y='{ty + 4:.1f}' text-anchor='end' fill='{_AXIS}'>{frac * y_max:,.0f}</text>"
            )

        def point(n: float, v: float, x0: int = x0, y_max: float = y_max) -> str:
            return f"{x0 + n / n_max * pw:.1f},{top + ph - v / y_max * ph:.1f}"

        if bound is not None:
            by = top + ph - bound / y_max * ph
            out.append(
                f"<line x1='{x0}' y1='{by:.1f}' x2='{x0 + pw}' y2='{by:.1f}' stroke='{_MISSED}' "
                "stroke-dasharray='4 3'/>"
            )
        path = " ".join(point(r["certificates"], r[key]) for r in rows)
        out.append(f"<polyline points='{path}' fill='none' stroke='#1565c0' stroke-width='2'/>")
        for r in rows:
            cx, cy = point(r["certificates"], r[key]).split(",")
            out.append(f"<circle cx='{cx}' cy='{cy}' r='2.5' fill='#1565c0'/>")
        for r in (rows[0], rows[len(rows) // 2], rows[-1]):
            tx = x0 + r["certificates"] / n_max * pw
            out.append(
                f"<text x='{tx:.1f}' y='{top + ph + 14}' text-anchor='middle' fill='{_AXIS}'>"
                f"{r['certificates'] / 1e6:,.0f}M</text>"
            )
        out.append(
            f"<text x='{x0 + pw / 2}' y='{top + ph + 30}' text-anchor='middle' fill='{_AXIS}'>certificates in "
            "the store</text>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def draw(results: dict[str, Any] | None = None, scale_markdown: str | None = None, into: Path = HERE) -> list[Path]:
    """Write targets.svg (from ``results``, else bench/results.json) and scale.svg (from bench/SCALE.md) into
    ``into`` (bench/ for a full run, beside the RESULTS.md that shows them)."""
    written = []
    if results is None and (HERE / "results.json").exists():
        results = json.loads((HERE / "results.json").read_text())["results"]
    if results:
        bars = target_bars(results)
        if bars:
            (into / TARGETS_SVG.name).write_text(targets_svg(bars, "Issue 18 targets in this run"))
            written.append(into / TARGETS_SVG.name)
    if scale_markdown is None and (HERE / "SCALE.md").exists():
        scale_markdown = (HERE / "SCALE.md").read_text()
    rows = scale_rows(scale_markdown or "")
    if rows:
        (into / SCALE_SVG.name).write_text(
            scale_svg(rows, "One store growing to 10,000,000 certificates (bench --scale)")
        )
        written.append(into / SCALE_SVG.name)
    return written


if __name__ == "__main__":
    for path in draw():
        print(f"wrote {path}")
