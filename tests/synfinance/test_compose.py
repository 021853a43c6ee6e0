"""docker-compose.yml and the Prometheus config agree with the CLI and with each other (no Docker engine here).

The file must parse; every pipeline service must run a command our CLI accepts; everything that writes or
reads values must point at the registry service's Confluent API, with the image of the version the local
stack runs; Prometheus must scrape exactly the metrics ports the services serve.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import typer
import yaml

from synfinance.cli import app
from synfinance.stack.paths import INFRA_DIR
from synfinance.stack.registry import APICURIO_VERSION, CONFLUENT_API

ROOT = Path(__file__).resolve().parents[2]
PORT_OPTIONS = ("--metrics-port", "--web-port")


def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def pipeline() -> dict[str, list[str]]:
    """The services running the synfinance image's entrypoint: name -> command."""
    return {name: service["command"] for name, service in services().items()
            if service.get("image") == "synfinance:local" and "entrypoint" not in service}


def test_every_pipeline_command_is_one_the_cli_accepts() -> None:
    commands = pipeline()
    assert {command[0] for command in commands.values()} == {"produce", "process", "sink", "lag-exporter"}
    cli = typer.main.get_command(app)
    for name, command in commands.items():
        sub = cli.commands[command[0]]  # type: ignore[attr-defined]
        context = sub.make_context(command[0], list(command[1:]))  # parses and type-checks, runs nothing
        assert context.params, name


def test_writers_and_readers_use_the_registry_service() -> None:
    compose = services()
    registry = compose["registry"]
    assert registry["image"] == f"apicurio/apicurio-registry-mem:{APICURIO_VERSION}"
    assert "healthcheck" in registry and CONFLUENT_API in registry["healthcheck"]["test"][1]
    init = compose["init"]
    assert init["depends_on"]["registry"] == {"condition": "service_healthy"}
    assert "synfinance schema register" in init["entrypoint"][-1]
    for name in [*pipeline(), "init"]:
        url = urllib.parse.urlsplit(compose[name]["environment"]["SYNFIN_SCHEMA_REGISTRY_URL"])
        assert (url.scheme, url.hostname, url.port, url.path) == ("http", "registry", 8080, CONFLUENT_API), name
        assert name == "init" or compose[name]["depends_on"]["init"] == {
            "condition": "service_completed_successfully"}


def test_prometheus_scrapes_exactly_the_ports_the_services_serve() -> None:
    served = set()
    for name, command in pipeline().items():
        ports = [command[i + 1] for i, arg in enumerate(command) if arg in PORT_OPTIONS]
        assert len(ports) == 1, f"{name} serves no metrics port: {command}"
        served.add(f"{name}:{ports[0]}")
    config = yaml.safe_load((INFRA_DIR / "prometheus" / "prometheus.yml").read_text())
    scraped = {target for job in config["scrape_configs"] for static in job["static_configs"]
               for target in static["targets"]}
    assert scraped == served
    assert "lag-exporter:9103" in scraped
    jobs = {job["job_name"]: job["static_configs"][0]["targets"][0].split(":")[0] for job in config["scrape_configs"]}
    assert all(job == host for job, host in jobs.items())
