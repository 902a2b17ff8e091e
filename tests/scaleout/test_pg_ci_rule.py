"""Under ``CI=true`` a missing PostgreSQL fails the tests that need it; elsewhere it skips.

A CI run that silently skipped the PostgreSQL tests would look like one that passed them. The
machine that runs this has PostgreSQL, so "missing" is a package directory without server
binaries: ``find_bindir`` looks at an empty directory instead of ``/usr/lib/postgresql``.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.servers import _postgres
from tests.servers._fixtures import own_server

REPO = Path(__file__).resolve().parents[2]

#: a session whose PostgreSQL packages are "missing", asking for the scale-out deployment
CHILD_CONFTEST = """
import functools
from pathlib import Path

from tests.servers import _postgres

_postgres.find_bindir = functools.partial(_postgres.find_bindir, Path({empty!r}))
pytest_plugins = [
    "tests.servers._fixtures", "tests.areadetector.fixtures", "tests.scaleout.conftest",
]
"""
CHILD_TEST = """
def test_needs_the_deployment(pg_tiled):
    assert pg_tiled.cluster.url
"""


@pytest.mark.parametrize(("ci", "outcome"), [("true", "failed"), ("", "skipped")])
def test_missing_postgresql_binaries(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: str
) -> None:
    """``own_server("postgres")``, behind the ``postgres_server`` fixture: fail or skip,
    naming what is missing and what to install."""
    monkeypatch.setattr(
        _postgres, "find_bindir", functools.partial(_postgres.find_bindir, tmp_path)
    )
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "failed" else pytest.skip.Exception
    with pytest.raises(expected) as info, own_server("postgres"):
        pass
    message = str(info.value)
    assert "no PostgreSQL server binaries" in message
    assert "apt-get install postgresql" in message
    assert ("CI=true" in message) == (outcome == "failed")


def run_child_session(tmp_path: Path, ci: str) -> ET.Element:
    """Run a pytest session that asks for ``pg_tiled`` on a machine without PostgreSQL;
    return its JUnit XML test case."""
    empty = tmp_path / "no-postgresql"
    empty.mkdir()
    (tmp_path / "conftest.py").write_text(CHILD_CONFTEST.format(empty=str(empty)))
    (tmp_path / "test_child.py").write_text(CHILD_TEST)
    report = tmp_path / "report.xml"
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    argv += [f"--junitxml={report}", f"--rootdir={tmp_path}"]
    subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, timeout=300, check=False)
    (case,) = ET.parse(report).getroot().iter("testcase")
    return case


def test_ci_session_fails_the_deployment_fixture(tmp_path: Path) -> None:
    """The whole chain, in a session of its own: ``pg_tiled`` errors under ``CI=true`` (the
    skip elsewhere is ``test_missing_postgresql_binaries``: one child session is enough)."""
    case = run_child_session(tmp_path, "true")
    errors = case.findall("error")
    assert errors and case.find("skipped") is None, ET.tostring(case, encoding="unicode")
    assert "a missing server is a failure" in (errors[0].get("message") or "")
