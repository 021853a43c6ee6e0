"""Each time unit, India's clock offset, the Earth's radius, the haversine formula, the label-delay bounds and
the days in a month are defined once (synfinance/common/units.py, geo.py, label_delays.py;
producers/timeline.py) and imported wherever they are used."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("producers", "processors", "sinks", "schemas", "synfinance")
HOMES = {"synfinance/common/units.py", "synfinance/common/geo.py", "synfinance/common/label_delays.py",
         "producers/timeline.py"}
DEFINED = re.compile(r"^\s*(?:[A-Z_]+\s*,\s*)*(SECOND_US|MINUTE_US|HOUR_US|DAY_US|IST_OFFSET_US|IST_OFFSET_S|"
                     r"EARTH_RADIUS_KM|CHARGEBACK_MIN_DAYS|CHARGEBACK_MAX_DAYS|MAX_LABEL_DELAY_US|"
                     r"DAYS_PER_MONTH)\b[^=\n]*=(?!=)", re.M)
FORMULA = re.compile(r"^\s*def haversine\w*\(", re.M)
LITERAL = re.compile(r"\b(86_?400_?000_?000|3_?600_?000_?000|19_?800_?000_?000|86_?400e6|3_?600e6|6371\.0088|"
                     r"30\.4375|90 \* DAY_US)")


def _sources() -> dict[str, str]:
    return {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
            for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts}


def test_time_units_the_earth_radius_and_haversine_have_one_home() -> None:
    found = []
    for name, text in _sources().items():
        if name in HOMES:
            continue
        code = "\n".join(line.split("#")[0] for line in text.splitlines() if not line.lstrip().startswith(">>>"))
        found += [(name, m.group(0).strip()) for m in DEFINED.finditer(code)]
        found += [(name, m.group(0).strip()) for m in FORMULA.finditer(code)]
        found += [(name, m.group(0)) for m in LITERAL.finditer(code)]
    assert found == []


def test_the_check_sees_a_copy() -> None:
    assert [m.group(1) for m in DEFINED.finditer("HOUR_US = 3_600 * 10**6\nMINUTE_US, DAY_US = 1, 2\n")] == [
        "HOUR_US", "DAY_US"]
    assert not DEFINED.search("if x.HOUR_US == 3:\n") and not DEFINED.search("from a import HOUR_US\n")
    assert FORMULA.search("def haversine_km(a, b):\n")
    assert LITERAL.findall("t // 86_400_000_000 + 3_600e6") == ["86_400_000_000", "3_600e6"]
