"""Screenshot an evaluation report with headless Chromium (Debian's `chromium`): the README's picture.

    python bench/report_screenshot.py /tmp/synfin-demo-XXXX/evaluation.html bench/evaluation_report.png

The report is the one `synfinance demo` writes for our processor (its path is the demo's last line).
The page is laid out 1280 px wide (two plots a row) and cut at --height (default: the plots and the per-type table).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="an evaluation.html")
    parser.add_argument("png", type=Path, help="where to write the screenshot")
    parser.add_argument("--height", type=int, default=2100, help="page height in px")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("no chromium: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                              f"--user-data-dir={profile}", f"--window-size=1280,{args.height}",
                              f"--screenshot={args.png.resolve()}", args.report.resolve().as_uri()],
                             capture_output=True, text=True, timeout=120, check=False)
    if run.returncode != 0 or not args.png.is_file():
        print(run.stderr[-2000:], file=sys.stderr)
        return 1
    print(f"{args.png} ({args.png.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
