"""The producer's HTTP control API (`synfinance produce --control-port N`): FastAPI, served by uvicorn on a thread.

| method and path | what | key |
|---|---|---|
| `GET /healthz` | `{"status": "ok"}` while the run goes on | no |
| `GET /status` | the live statistics, the profile, the incidents | no |
| `PUT /rate` | `{"rate": R}`: `constant:R` from the next slice | yes |
| `PUT /profile` | `{"profile": "ramp:1000:5000:60"}`, the `--profile` syntax | yes |
| `POST /pause`, `POST /resume` | stop sending, and go on | yes |
| `POST /incidents` | `{"kind": "card_testing", "transactions": 200, "rate": 20}` | yes |
| `GET /docs`, `GET /openapi.json` | the OpenAPI description | no |

A change needs the `X-API-Key` header to equal the `SYNFIN_CONTROL_API_KEY` setting (401 otherwise). A
refused change gets 400 (409 for a pause of a paused run), a malformed body 422, and a run that has
ended 503. Each error is `{"error": "<one line>"}`. A change is applied by the run itself
(`producers.control.Controller`), and the answer says where: `{"position": P, ...}`.
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from synfinance.producers.control import Control, Controller
from synfinance.producers.incidents import INCIDENT_KINDS, MAX_INCIDENT_TRANSACTIONS

__all__ = ["ControlServer", "build_app"]


class RateBody(BaseModel):
    rate: float = Field(gt=0, description="Transactions per second, held constant from the next slice.")


class ProfileBody(BaseModel):
    profile: str = Field(description="A rate profile in the --profile syntax, e.g. ramp:1000:5000:60.")


class IncidentBody(BaseModel):
    kind: str = Field(description=f"One of: {', '.join(INCIDENT_KINDS)} (velocity: legitimate anomalies).")
    transactions: int = Field(ge=1, le=MAX_INCIDENT_TRANSACTIONS, description="Transactions added, exactly.")
    rate: float = Field(gt=0, description="Transactions per second of event time.")


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def build_app(controller: Controller, api_key: str) -> FastAPI:
    """The API over `controller`; changes need `api_key`."""
    app = FastAPI(title="synfinance produce control API", version="1",
                  description="Change a running producer's rate and profile, pause it, add incidents.")

    def authorised(x_api_key: str | None = Header(default=None)) -> None:
        if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), api_key.encode()):
            raise Refused(401, "a change needs the X-API-Key header (the SYNFIN_CONTROL_API_KEY setting)")

    def change(control: Control) -> dict[str, Any]:
        try:
            return controller.submit(control)
        except RuntimeError as error:
            raise Refused(503, str(error)) from None
        except ValueError as error:
            raise Refused(409 if "paused" in str(error) else 400, str(error)) from None

    def control_of(action: str, value: Any = None) -> Control:
        try:
            return Control(action, value)  # type: ignore[arg-type]
        except ValueError as error:
            raise Refused(400, str(error)) from None

    @app.exception_handler(Refused)
    async def refused(_: Request, error: Refused) -> JSONResponse:
        return JSONResponse({"error": error.reason}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        reason = f"{where}: {first.get('msg', 'invalid request')}" if where else str(first.get("msg", "invalid"))
        return JSONResponse({"error": reason}, status_code=422)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/status")
    def status() -> dict[str, Any]:
        try:
            return controller.status()
        except RuntimeError as error:
            raise Refused(503, str(error)) from None

    @app.put("/rate", dependencies=[Depends(authorised)])
    def put_rate(body: RateBody) -> dict[str, Any]:
        return change(control_of("profile", f"constant:{body.rate:g}"))

    @app.put("/profile", dependencies=[Depends(authorised)])
    def put_profile(body: ProfileBody) -> dict[str, Any]:
        return change(control_of("profile", body.profile))

    @app.post("/pause", dependencies=[Depends(authorised)])
    def pause() -> dict[str, Any]:
        return change(control_of("pause"))

    @app.post("/resume", dependencies=[Depends(authorised)])
    def resume() -> dict[str, Any]:
        return change(control_of("resume"))

    @app.post("/incidents", dependencies=[Depends(authorised)])
    def incidents(body: IncidentBody) -> dict[str, Any]:
        return change(control_of("incident", body.model_dump()))

    return app


class ControlServer:
    """uvicorn on a daemon thread; `start` returns once it listens (OSError when it cannot)."""

    def __init__(self, controller: Controller, api_key: str, host: str, port: int) -> None:
        config = uvicorn.Config(build_app(controller, api_key), host=host, port=port, log_level="warning",
                                access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self.socket: socket.socket | None = None
        self.thread = threading.Thread(target=self._serve, name="control-api", daemon=True)

    def _serve(self) -> None:
        assert self.socket is not None
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 10.0) -> None:
        """Bind here (so that a port in use is this process's one-line OSError), then serve on the thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((self.host, self.port))
        except OSError as error:
            self.socket.close()
            raise OSError(f"cannot listen on {self.host}:{self.port} ({error.strerror})") from None
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"cannot serve on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(5)
