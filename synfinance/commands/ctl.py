"""`synfinance ctl` — the client of a running producer's control API (`synfinance produce --control-port N`).

Each sub-command is one request (`producers.control_api` lists them), answered with one JSON object on
stdout. Changes send the `SYNFIN_CONTROL_API_KEY` setting as `X-API-Key`. A refused request prints the
API's one-line reason on stderr and exits 2. A producer that cannot be reached, or that has ended,
exits 1.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import typer

from synfinance.common.errors import UsageError
from synfinance.common.settings import load_settings

DEFAULT_CONTROL_PORT = 9320
app = typer.Typer(help="Control a running producer (started with --control-port): rate, profile, pause, incidents.",
                  epilog="Example: synfinance ctl rate 5000 --port 9320   (SYNFIN_CONTROL_API_KEY as the producer's)",
                  no_args_is_help=True)

PORT = typer.Option(DEFAULT_CONTROL_PORT, "--port", help="The producer's --control-port.")
HOST = typer.Option("127.0.0.1", "--host", help="The producer's host.")


def _request(method: str, path: str, host: str, port: int, body: dict[str, Any] | None = None,
             change: bool = True) -> int:
    headers = {"Content-Type": "application/json"}
    if change:
        key = load_settings().control_api_key
        if key is None:
            raise UsageError("set SYNFIN_CONTROL_API_KEY to the producer's key: changes need it")
        headers["X-API-Key"] = key.get_secret_value()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            print(json.dumps(json.loads(response.read()), sort_keys=True))
            return 0
    except urllib.error.HTTPError as error:
        try:
            reason = json.loads(error.read()).get("error", error.reason)
        except (ValueError, AttributeError):
            reason = error.reason
        if error.code >= 500:
            raise UsageError(f"the producer at {host}:{port} answered {error.code}: {reason}", exit_code=1) from None
        raise UsageError(f"refused ({error.code}): {reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UsageError(f"no control API at {host}:{port} ({reason})", exit_code=1) from None


@app.command()
def status(port: int = PORT, host: str = HOST) -> int:
    """The producer's live statistics, profile and incidents.

    Example: synfinance ctl status --port 9320
    """
    return _request("GET", "/status", host, port, change=False)


@app.command()
def rate(value: float = typer.Argument(..., help="Transactions per second."), port: int = PORT,
         host: str = HOST) -> int:
    """Send at a constant rate from the next slice.

    Example: synfinance ctl rate 5000
    """
    return _request("PUT", "/rate", host, port, {"rate": value})


@app.command()
def profile(value: str = typer.Argument(..., help="A profile in the --profile syntax, e.g. ramp:1000:5000:60."),
            port: int = PORT, host: str = HOST) -> int:
    """Follow a rate profile from now (`synfinance produce --help` lists them).

    Example: synfinance ctl profile burst:1000:20000:60:5
    """
    return _request("PUT", "/profile", host, port, {"profile": value})


@app.command()
def pause(port: int = PORT, host: str = HOST) -> int:
    """Stop sending until `resume` (the profile's clock stands still).

    Example: synfinance ctl pause
    """
    return _request("POST", "/pause", host, port, {})


@app.command()
def resume(port: int = PORT, host: str = HOST) -> int:
    """Go on after a pause.

    Example: synfinance ctl resume
    """
    return _request("POST", "/resume", host, port, {})


@app.command()
def incident(kind: str = typer.Argument(..., help="A fraud type (card_testing, sim_swap, ...) or velocity."),
             transactions: int = typer.Option(200, "--transactions", help="Transactions added, exactly."),
             per_second: float = typer.Option(20.0, "--rate", help="Transactions per second of event time."),
             port: int = PORT, host: str = HOST) -> int:
    """Add a timed burst of one fraud type (or of velocity anomalies), labelled with one scenario id.

    Example: synfinance ctl incident card_testing --transactions 200 --rate 20
    """
    return _request("POST", "/incidents", host, port,
                    {"kind": kind, "transactions": transactions, "rate": per_second})
