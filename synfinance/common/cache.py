"""Where synfinance caches what it can rebuild: the Kafka and registry jars, and built worlds."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """`SYNFIN_CACHE_DIR`, else `$XDG_CACHE_HOME/synfinance` (default `~/.cache/synfinance`)."""
    configured = os.environ.get("SYNFIN_CACHE_DIR")
    if configured:
        return Path(configured).resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "synfinance"
