"""The evaluation report: one self-contained HTML file (inline SVG plots, inline CSS, the scoreboard as JSON).

Plots, each an ``<svg data-plot=NAME>`` (`PLOTS`): the ROC and PR curves of the engine's scores, recall per
fraud type, detection delay per scenario type, the decision-latency histogram, the score distribution by
class, and recall / precision over event time. A plot with nothing to draw (no scores in the decisions, no
detected scenario) says so in its caption instead of drawing an empty frame. The scoreboard's JSON is
embedded as ``<script type="application/json" id="scoreboard">``: the same numbers as ``--json``. A one-line
script stamps each plot with ``data-drawn`` (the size its data marks take once laid out), for browser tests.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from synfinance.common.units import DAY_US, HOUR_US, MINUTE_US, SECOND_US
from synfinance.processors.evaluation.scoreboard import Scoreboard, SliceStats
from synfinance.processors.evaluation.svg import bar_chart, line_chart

__all__ = ["PLOTS", "render", "write_report"]

PLOTS = ("roc", "pr", "recall_by_type", "detection_delay", "latency", "score_distribution", "quality_over_time")
_CSS = ("body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}table{border-collapse:collapse;"
        "margin:8px 0 20px}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:16px}"
        "figure{margin:0;border:1px solid #eee;padding:8px}figcaption{font-size:13px;max-width:560px}")

# after layout, each plot records the width its data marks cover (a browser test reads it from the DOM)
_DRAWN = ("for(const s of document.querySelectorAll('svg.plot')){let w=0;for(const m of s.querySelectorAll('.data'))"
          "{w+=m.getBBox().width+m.getBBox().height}s.setAttribute('data-drawn',Math.round(w))}")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _slice_row(name: str, s: SliceStats) -> list[str]:
    return [name, f"{s.fraud:,}", _pct(s.at_decline.recall), _pct(s.at_decline.precision), _pct(s.at_review.recall),
            _pct(s.at_review.precision), _num(s.roc_auc), _num(s.pr_auc), f"₹{s.caught_paise / 100:,.0f}",
            f"₹{s.missed_paise / 100:,.0f}", f"{s.scenarios.prevented}/{s.scenarios.late}/{s.scenarios.missed}",
            _num(s.scenarios.delay_s_p50, 0)]


def _figure(svg: str | None, caption: str, name: str) -> str:
    if svg is None:
        return f'<figure data-empty="{name}"><figcaption><b>{name}</b>: {escape(caption)}</figcaption></figure>'
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def _delay_unit(seconds: list[float]) -> tuple[float, str]:
    top = max(seconds, default=0.0)
    units = ((DAY_US / SECOND_US, "days"), (HOUR_US / SECOND_US, "hours"), (MINUTE_US / SECOND_US, "minutes"))
    return next(((f, u) for f, u in units if top >= 2 * f),
                (1.0, "seconds"))


def _plots(board: Scoreboard) -> list[str]:
    p = board.plots
    figures = []
    roc = None if p.roc is None else line_chart("roc", [("ROC", p.roc[0], p.roc[1])], "false-positive rate",
                                                "true-positive rate (recall)", (0.0, 1.0), reference=True)
    figures.append(_figure(roc, f"ROC curve of the scores, all fraud vs legitimate (AUC {_num(board.overall.roc_auc)})"
                           if roc else "no decision carried a score", "roc"))
    pr = None if p.pr is None else line_chart("pr", [("PR", p.pr[0], p.pr[1])], "recall", "precision", (0.0, 1.0))
    share = board.overall.fraud / max(1, board.overall.fraud + board.overall.legit)
    figures.append(_figure(pr, f"precision-recall curve (average precision {_num(board.overall.pr_auc)}; "
                           f"fraud share {_pct(share)})"
                           if pr else "no decision carried a score", "pr"))
    types = sorted(board.fraud_types)
    recall = None if not types else bar_chart(
        "recall_by_type", types, [("declined", [board.fraud_types[t].at_decline.recall for t in types]),
                                  ("declined or reviewed", [board.fraud_types[t].at_review.recall for t in types])],
        "recall (share of the type's fraud transactions stopped)")
    figures.append(_figure(recall, "recall per fraud type at the engine's decisions" if recall
                           else "no fraud labelled yet", "recall_by_type"))
    detected = [t for t in types if board.fraud_types[t].scenarios.delay_s_p50 is not None]
    delays = [board.fraud_types[t].scenarios.delay_s_p90 or 0.0 for t in detected]
    factor, unit = _delay_unit(delays)
    delay = None if not detected else bar_chart(
        "detection_delay", detected,
        [("median", [(board.fraud_types[t].scenarios.delay_s_p50 or 0.0) / factor for t in detected])],
        f"event time from a scenario's first transaction to its first decline ({unit}); tick: p90",
        whiskers=[d / factor for d in delays])
    figures.append(_figure(delay, "detection delay per scenario type, over detected scenarios (0: prevented)"
                           if delay else "no scenario was detected", "detection_delay"))
    latency = None if not p.latency_hist else line_chart(
        "latency", [("decisions", p.latency_edges_ms, [*p.latency_hist, p.latency_hist[-1]])],
        "transaction event time to decision (ms, log scale)", "decisions",
        y_range=(0.0, max(p.latency_hist) * 1.05 or 1.0), log_x=True, steps=True)
    figures.append(_figure(latency, f"decision latency (p50 {_num(board.latency.p50_ms, 1)} ms, p99 "
                           f"{_num(board.latency.p99_ms, 1)} ms)" if latency else "no decision had a time after its "
                           "transaction", "latency"))
    shares = {name: [c / max(1, sum(counts)) for c in counts] for name, counts in p.score_hist.items()}
    scored = any(sum(counts) for counts in p.score_hist.values())
    dist = None if not scored else line_chart(
        "score_distribution", [(name, p.score_edges, [*s, s[-1]]) for name, s in shares.items()], "score",
        "share of the class", (0.0, 1.0), (0.0, max(max(s) for s in shares.values()) * 1.05 or 1.0), steps=True)
    figures.append(_figure(dist, "score distribution by class (each class sums to 1)" if dist
                           else "no decision carried a score", "score_distribution"))
    mids = [(a + b) / 2 / DAY_US for a, b in zip(p.time_edges_us, p.time_edges_us[1:], strict=False)]
    origin = mids[0] if mids else 0.0
    quality = None if not mids else line_chart(
        "quality_over_time", [("recall", [m - origin for m in mids], p.time_recall),
                              ("precision", [m - origin for m in mids], p.time_precision)],
        f"event time (days after {_day(p.time_edges_us[0])})", "at decline")
    figures.append(_figure(quality, "recall and precision at decline over event time (gaps: no fraud / no "
                           "decline in that slice)" if quality else "no labelled transactions", "quality_over_time"))
    return figures


def _day(us: int) -> str:
    return datetime.fromtimestamp(us / SECOND_US, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _unverdicted(board: Scoreboard) -> str:
    topics = board.counts.get("decision_topics", 1)
    if topics > 1:
        return f"Decisions of {topics} topics combined: a transaction none of them gives a verdict is approved."
    return f"Decisions without a verdict decline at score ≥ {board.threshold:g}."


def render(board: Scoreboard, title: str) -> str:
    """The report's HTML."""
    c = board.counts
    counts = _table(["count", "value"], [[k.replace("_", " "), f"{v:,}"] for k, v in c.items()])
    slices = _table(["fraud type", "frauds", "recall", "precision", "recall (+review)", "precision (+review)",
                     "ROC-AUC", "PR-AUC", "₹ caught", "₹ missed", "scenarios prevented/late/missed",
                     "median delay (s)"],
                    [_slice_row(t, s) for t, s in sorted(board.fraud_types.items())]
                    + [_slice_row("all", board.overall)])
    anomalies = _table(["legitimate anomaly", "transactions", "declined", "stopped (+review)"],
                       [[t, f"{a.legit_anomalies:,}", _pct(a.fpr_decline), _pct(a.fpr_review)]
                        for t, a in [*sorted(board.anomaly_types.items()), ("all", board.anomalies)]])
    thresholds = board.overall.thresholds or {}
    by_threshold = _table(["score ≥", "recall", "precision", "FPR"],
                          [[t, _pct(v.recall), _pct(v.precision), _pct(v.fpr)] for t, v in thresholds.items()])
    lat = board.latency
    data = json.dumps(board.as_json()).replace("</", "<\\/")
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>synfinance evaluate: "
            f"{escape(title)}</title><style>{_CSS}</style></head><body><h1>Fraud engine evaluation: "
            f"{escape(title)}</h1><p>Positive = declined (review counted separately); a transaction without a "
            f"decision is approved; per fraud type, precision counts that type's frauds against every legitimate "
            f"transaction. {_unverdicted(board)}</p>"
            "<h2>Plots</h2><div class=\"plots\">" + "".join(_plots(board)) + "</div>"
            f"<h2>Per fraud type</h2>{slices}<h2>False positives on legitimate anomalies</h2>{anomalies}"
            f"<h2>At score thresholds</h2>{by_threshold if thresholds else '<p>no scores</p>'}"
            f"<h2>Decision latency</h2><p>{lat.decided:,} decided; p50 {_num(lat.p50_ms, 1)} ms, p90 "
            f"{_num(lat.p90_ms, 1)} ms, p99 {_num(lat.p99_ms, 1)} ms, max {_num(lat.max_ms, 1)} ms; "
            f"{lat.negative:,} stamped before their transaction</p><h2>Counts</h2>{counts}"
            f"<script type=\"application/json\" id=\"scoreboard\">{data}</script><script>{_DRAWN}</script>"
            "</body></html>")


def write_report(board: Scoreboard, path: Path, title: str) -> None:
    """Write the report to `path` (UTF-8)."""
    path.write_text(render(board, title), encoding="utf-8")
