"""The wheel as a user installs it, and the import layering it promises (issue 15).

The integration test builds the wheel, installs it (not editable) into a fresh venv in a temporary
directory beside a throwaway user project that has its own `schemas/` and `producers/` packages, and runs a
pytest file there that uses `kafka_bootstrap`, `database_url` and `synfin_stream`: the plugin starts its own
embedded stack from the files inside the wheel. The new venv installs the wheel with `--no-deps` and sees
this venv's third-party packages through a `.pth` line (the same versions `pip install` would pick, without
downloading them again); nothing of ours reaches it but the wheel.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"synfinance": "synfinance", "synfinance.producers": "producers", "synfinance.processors": "processors",
           "synfinance.schemas": "schemas", "synfinance.sinks": "sinks"}
COMPONENTS = ("producers", "processors", "sinks")
SHELL = ("synfinance.cli", "synfinance.commands", "synfinance.stack", "synfinance.testing", "synfinance.demo",
         "synfinance.console", "synfinance.seeded_stream")


def declared() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def python_packages() -> set[str]:
    """Every folder with an `__init__.py` under the mapped roots, as the dotted name it installs as."""
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            if name == "synfinance" and relative and relative[0] in {"producers", "processors", "schemas", "sinks"}:
                continue
            found.add(".".join((name, *relative)))
    return found


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name for name in names if name.split(".")[0] == "synfinance"}


def test_every_package_is_declared_and_every_folder_maps_to_one_namespace() -> None:
    setuptools = declared()
    assert set(setuptools["packages"]) - {"synfinance.infra"} == python_packages()
    assert setuptools["package-dir"] == {**FOLDERS, "synfinance.infra": "infra"}


def test_components_import_only_common_schemas_and_themselves() -> None:
    """Data flows through topics: a component never imports another's internals, nor the shell above it."""
    for component in COMPONENTS:
        allowed = (f"synfinance.{component}", "synfinance.common", "synfinance.schemas")
        for path in (ROOT / component).rglob("*.py"):
            wrong = {name for name in imports_of(path) if not name.startswith(allowed)}
            assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
    for path in (ROOT / "schemas").rglob("*.py"):
        assert all(name.startswith(("synfinance.schemas", "synfinance.common")) for name in imports_of(path)), path
    for path in (ROOT / "synfinance" / "common").rglob("*.py"):
        assert all(name.startswith("synfinance.common") for name in imports_of(path)), path
    assert "synfinance" not in {name.split(".")[0] for name in imports_of(ROOT / "synfinance" / "__init__.py")}
    assert all(not name.startswith(SHELL) for path in (ROOT / "synfinance" / "common").rglob("*.py")
               for name in imports_of(path))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`pip wheel` of a copy of the checkout (setuptools builds in the tree: not in ours)."""
    source, out = tmp_path_factory.mktemp("source") / "synfinance", tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".synfin", "build", "dist",
                                                                "*.egg-info", "__pycache__", ".*_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
                            "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    (path,) = out.glob("synfinance-*.whl")
    return path


def test_the_wheel_holds_one_namespace_and_the_stack_files(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("synfinance-")}
    assert tops == {"synfinance"}
    kafka_files = [f"synfinance/infra/kafka/{name}" for name in (
        "pom.xml", "pom-kafka3.xml", "server.properties.template", "log4j2.properties",
        "tools-log4j2.properties", "log4j.properties", "tools-log4j.properties")]
    for needed in (*kafka_files, "synfinance/infra/prometheus/alerts.yml",
                   "synfinance/infra/grafana/dashboards/fraud.json", "synfinance/schemas/transaction.avsc",
                   "synfinance/sinks/migrations/script.py.mako",
                   "synfinance/sinks/migrations/versions/0001_initial_schema.py",
                   "synfinance/producers/world/categories.py"):
        assert needed in names, needed
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "synfinance = synfinance.testing" in entry_points and "synfinance = synfinance.cli:run" in entry_points


USER_TEST = '''
"""A user's own integration test, beside their own `schemas` and `producers` packages."""
from confluent_kafka import Consumer, TopicPartition
import psycopg2

import producers.pricing
import schemas.orders
from synfinance.schemas.codec import decode


def test_our_modules_and_theirs_side_by_side():
    assert schemas.orders.NAME == "user's orders" and producers.pricing.NAME == "user's pricing"


def test_a_seeded_stream_matches_its_ground_truth(kafka_bootstrap, database_url, synfin_stream):
    stream = synfin_stream(seed=7, events=2_000, customers=500, merchants=100)
    assert stream is synfin_stream(seed=7, events=2_000, customers=500, merchants=100)
    consumer = Consumer(stream.consumer_config())
    topic = stream.topics.labels
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    labels = []
    while len(labels) < stream.expected["labels"]:
        labels += [decode(m.value()) for m in consumer.consume(1000, timeout=5)]
    consumer.close()
    final = {}
    for label in sorted(labels, key=lambda label: label["revision"]):
        final[label["transaction_id"]] = label
    assert final == stream.labels and len(final) == 2_000
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("select 1")
        assert cursor.fetchone() == (1,)
'''


@pytest.mark.integration
def test_wheel_in_a_fresh_venv_next_to_a_user_project(wheel: Path, tmp_path: Path) -> None:
    project = tmp_path / "user-project"
    for package, module in (("schemas", "orders"), ("producers", "pricing")):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("")
        (project / package / f"{module}.py").write_text(f'NAME = "user\'s {module}"\n')
    (project / "tests").mkdir()
    (project / "tests" / "test_with_synfinance.py").write_text(textwrap.dedent(USER_TEST))
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    (site / "zz_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after the venv's own
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]

    env = {key: value for key, value in os.environ.items() if not key.startswith("SYNFIN_")}
    env.update(SYNFIN_TEST_BACKEND="local", SYNFIN_STATE_DIR=str(tmp_path / "state"), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([python, "-c", "import synfinance.stack.paths as p, synfinance; "
                            "print(p.INFRA_DIR); print(synfinance.__file__)"],
                           cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout
    run = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "2 passed" in run.stdout
    assert not processes_mentioning(str(tmp_path)), "the plugin left its stack running"


def processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found
