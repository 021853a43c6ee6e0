"""The HTML report: self-contained, every plot drawn, the embedded JSON equal to the scoreboard, and headless
Chromium (Debian's `chromium`) lays it out with every plot present and non-empty, and screenshots it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synfinance.processors.evaluation.decisions import DECLINE, NO_VERDICT, REVIEW
from synfinance.processors.evaluation.joined import Observed, join
from synfinance.processors.evaluation.report import PLOTS, render, write_report
from synfinance.processors.evaluation.scoreboard import Scoreboard, score
from synfinance.producers.records import RecordEncoder
from synfinance.producers.stream import StreamConfig, TransactionStream
from synfinance.schemas.codec import decode

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def board() -> Scoreboard:
    """A generated stream's ground truth and a noisy seeded scorer: fraud scores higher, on average."""
    stream = TransactionStream(StreamConfig(seed=5, customers=2_000, merchants=400))
    batch = next(stream.batches(8_000))
    encoder = RecordEncoder(stream.world)
    seen = Observed()
    for value in encoder.encode_transactions(batch):
        t = decode(value)
        seen.add_transaction(t["transaction_id"], t["event_time"], t["amount_paise"])
    labels = [decode(v) for v in [*encoder.encode_labels(batch), *encoder.encode_revisions(batch)[1]]]
    for label in labels:
        seen.add_label(label["transaction_id"], label["revision"], label["is_fraud"], label["fraud_type"],
                       label["scenario_id"], label["is_anomaly"], label["anomaly_type"])
    rng = np.random.default_rng(9)
    for label in (label for label in labels if label["revision"] == 0):
        s = float(np.clip(rng.normal(0.7 if label["is_fraud"] else 0.3, 0.15), 0, 1))
        verdict = DECLINE if s > 0.6 else REVIEW if s > 0.55 else NO_VERDICT
        seen.add_decision(label["transaction_id"], s, verdict, None, label["event_time"] + int(rng.lognormal(10, 1)))
    return score(join(seen))


def test_every_plot_is_drawn_and_the_json_is_the_scoreboard(board: Scoreboard) -> None:
    html = render(board, "seeded scorer")
    plots = re.findall(r'<svg class="plot" data-plot="([a-z_]+)".*?</svg>', html, flags=re.S)
    assert plots == list(PLOTS)
    for name in PLOTS:
        svg = re.search(rf'<svg class="plot" data-plot="{name}".*?</svg>', html, flags=re.S)
        assert svg is not None and svg.group(0).count('class="data"') >= 1, name
    embedded = re.search(r'<script type="application/json" id="scoreboard">(.*?)</script>', html, flags=re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1)) == json.loads(json.dumps(board.as_json()))
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched


def test_a_board_without_scores_says_so_instead_of_empty_plots() -> None:
    seen = Observed()
    seen.add_transaction("T1", 1, 100)
    seen.add_label("T1", 0, True, "sim_swap", "S1", False, None)
    seen.add_decision("T1", None, DECLINE, None, 5)
    html = render(score(join(seen)), "decisions only")
    for name in ("roc", "pr", "score_distribution"):
        assert f'data-empty="{name}"' in html and f'data-plot="{name}"' not in html


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (Debian package chromium) not installed")
def test_headless_chromium_renders_every_plot(board: Scoreboard, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_report(board, page, "seeded scorer")
    shot = tmp_path / "report.png"
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2800"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    drawn = dict(re.findall(r'<svg class="plot" data-plot="([a-z_]+)"[^>]*?data-drawn="(\d+)"', dom.stdout))
    assert set(drawn) == set(PLOTS), drawn
    assert all(int(size) > 0 for size in drawn.values()), drawn
    run = subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a blank 1280x2800 page is ~16 kB
