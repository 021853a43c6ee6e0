"""`--bind HOST`: where a command's HTTP servers listen (metrics, health, the control API).

Loopback (127.0.0.1) by default, from the `SYNFIN_BIND_HOST` setting; `--bind` overrides it for one run,
e.g. `--bind 0.0.0.0` so that a Prometheus in another container can scrape. A host that is not an IP address
or `localhost` is one line and exit 2.
"""

from __future__ import annotations

import ipaddress

from synfinance.common.errors import UsageError
from synfinance.common.settings import Settings

HELP = "Listen here (metrics, health, control API): an IP address. Default: SYNFIN_BIND_HOST, else 127.0.0.1."


def bind_host(option: str | None, settings: Settings) -> str:
    """The address to listen on: `--bind` if given, else the setting."""
    if option is None:
        return settings.bind_host
    host = option.strip()
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"--bind {option!r}: expected an IP address (127.0.0.1, 0.0.0.0, ::1) or localhost"
                             ) from None
    return host
