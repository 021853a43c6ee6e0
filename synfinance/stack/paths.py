"""Where the local stack keeps things: its config files (`infra/`), the state dir, and the jar cache."""

from __future__ import annotations

import os
from pathlib import Path

from synfinance.common.cache import cache_dir

__all__ = ["INFRA_DIR", "REPO_ROOT", "cache_dir", "state_dir"]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _infra_dir() -> Path:
    """`synfinance/infra` inside an installed wheel, else the checkout's top-level `infra/`."""
    installed = Path(__file__).resolve().parents[1] / "infra"
    return installed if (installed / "kafka" / "pom.xml").is_file() else REPO_ROOT / "infra"


INFRA_DIR = _infra_dir()


def state_dir() -> Path:
    """`SYNFIN_STATE_DIR`, else `.synfin/` in the repo checkout (or the current directory)."""
    configured = os.environ.get("SYNFIN_STATE_DIR")
    if configured:
        return Path(configured).resolve()
    base = REPO_ROOT if (REPO_ROOT / "pyproject.toml").exists() else Path.cwd()
    return base / ".synfin"
