"""Run ophyd-async's own ADSim system tests against our sim IOC; print which pass and why not.

``python -m benchmarks.run_ophyd_async_upstream <ophyd-async source dir> [--json FILE]``

ophyd-async's tests are not in its wheel; its sdist has them::

    pip download --no-deps --no-binary :all: ophyd-async==0.21.3 -d /tmp/oa-sdist
    mkdir /tmp/ophyd-async-src
    tar xzf /tmp/oa-sdist/ophyd_async-0.21.3.tar.gz -C /tmp/ophyd-async-src --strip-components=1

``tests/container_tests/test_adsim_system.py`` is the module that drives a simulated ADSim
IOC (a container in their CI, reached through a ca-gateway). This script starts our IOC the
way that container is configured (prefix ``BL01T-DI-CAM-01:``, the driver as ``DET:`` and the
HDF5 plugin as ``HDF5:`` through ``--alias``, the plugins' source port ``DET.PROC`` through
``--cam-port``, 1024x1024 Int8 frames, acquiring continuously) and runs that module,
unmodified, in a pytest of its own: ``--noconftest`` (their conftests start docker) with
:mod:`benchmarks._upstream_plugin` providing the fixtures. It prints one table row per test
(pass/fail and, for a failure, the lines that differ) and one JSON line.

Their unit tests for ``adcore`` and ``SimDetector`` use mock signals, not an IOC: they are
counted (``--collect-only``) and reported as not applicable. This is a script, not a timed
benchmark: ``python -m benchmarks`` does not run it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Outcome", "main", "run"]

SYSTEM_TESTS = "tests/container_tests/test_adsim_system.py"
#: Their unit tests of the classes the system tests drive (mock signals, no IOC).
UNIT_TESTS = ("tests/unit_tests/epics/adcore", "tests/unit_tests/epics/test_adsimdetector.py")
PREFIX = "BL01T-DI-CAM-01:"
IOC_ARGS = ("--alias", "cam1:=DET:", "--alias", "HDF1:=HDF5:", "--cam-port", "DET.PROC")
SIZE = (1024, 1024)
#: What the container's start-up does after iocInit (its last command starts acquiring).
STARTUP_PUTS = (("DET:DataType", "Int8"), ("DET:ImageMode", "Continuous"), ("DET:Acquire", 1))
#: A whole run of both tests takes ~15 s upstream; allow for a loaded machine.
PYTEST_TIMEOUT = 600


@dataclass(frozen=True)
class Outcome:
    """One upstream test: ``passed``, ``failed``, ``error`` or ``skipped``, and why."""

    test: str
    result: str
    why: str = ""


def check_source(src: Path) -> str:
    """The version of the ophyd-async source tree; SystemExit when it has no tests."""
    if not (src / SYSTEM_TESTS).is_file():
        raise SystemExit(
            f"{src} has no {SYSTEM_TESTS}: unpack ophyd-async's sdist there "
            "(see this script's docstring)"
        )
    pkg_info = src / "PKG-INFO"
    text = pkg_info.read_text(encoding="utf-8") if pkg_info.is_file() else ""
    match = re.search(r"^Version: (\S+)", text, re.M)
    return match.group(1) if match else "unknown"


def start_ioc() -> object:
    """Our IOC, configured as their container is once it has started."""
    from sim_iocs.testing import configure_client_environment, start_sim_ioc

    configure_client_environment(ports=1)
    ioc = start_sim_ioc(PREFIX, size=SIZE, extra_args=IOC_ARGS)
    import epics

    for name, value in STARTUP_PUTS:
        if not epics.caput(ioc.pv(name), value, wait=True, timeout=10):
            ioc.stop()
            raise SystemExit(f"could not put {value!r} to {ioc.pv(name)}:\n{ioc.log_tail()}")
    return ioc


def pytest_env(port: int, tmp: Path) -> dict[str, str]:
    """The pytest process's environment: CA finds our IOC only, on loopback."""
    from sim_iocs import client_environment

    env = {k: v for k, v in os.environ.items() if not k.startswith("EPICS_")}
    env.update(client_environment([port]))
    env["SIM_IOC_UPSTREAM_PORT"] = str(port)
    env["SIM_IOC_UPSTREAM_TMP"] = str(tmp)
    here = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def run_system_tests(src: Path, port: int, tmp: Path) -> tuple[list[Outcome], str]:
    """Their ADSim module in a pytest of its own; the outcomes and pytest's output."""
    report = tmp / "junit.xml"
    argv = [sys.executable, "-m", "pytest", "--noconftest", "-p", "benchmarks._upstream_plugin"]
    argv += ["-p", "no:cacheprovider", f"--junitxml={report}", "-o", "junit_logging=no"]
    argv += ["--rootdir", str(src), SYSTEM_TESTS]
    env = pytest_env(port, tmp)
    proc = subprocess.run(
        argv, cwd=src, env=env, capture_output=True, text=True, timeout=PYTEST_TIMEOUT
    )
    output = proc.stdout + proc.stderr
    if not report.is_file():
        raise SystemExit(f"pytest wrote no report (exit {proc.returncode}):\n{output[-4000:]}")
    return parse_junit(report), output


def parse_junit(path: Path) -> list[Outcome]:
    """One :class:`Outcome` per ``testcase`` of a JUnit XML report."""
    outcomes = []
    for case in ET.parse(path).getroot().iter("testcase"):
        result, why = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                result = "failed" if tag == "failure" else tag
                why = reason(node.get("message", ""), node.text or "")
                break
        outcomes.append(Outcome(case.get("name", "?"), result, why))
    return outcomes


def reason(message: str, text: str) -> str:
    """Why a test failed, in one line.

    For a failed ``==`` this is pytest's full diff without the noise of ``ANY``: an actual
    value (however many lines) where the test expected ``<ANY>`` is equal in truth, so only
    the lines that really differ remain (``got`` / ``expected``). Otherwise the message.
    """
    differ = [
        ("got " if sign == "+" else "expected ") + content
        for sign, _indent, content in _real_differences(_diff_lines(text))
    ]
    if differ:
        return "; ".join(differ[:6]) + ("; ..." if len(differ) > 6 else "")
    return " ".join(message.split())[:300]


def _diff_lines(text: str) -> list[tuple[str, int, str]]:
    """``(sign, indent, content)`` of the ``-``/``+`` lines of pytest's full diff."""
    found = re.findall(r"^\s*(?:E\s+)?([-+])( {2,})(\S.*?)\s*$", text, re.M)
    return [(sign, len(indent), content) for sign, indent, content in found]


def _real_differences(lines: list[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    """Drop each expected ``<ANY>`` and the actual value (nested lines too) it stands for."""
    pending: list[tuple[int, str]] = []  # (indent, key or "") of expected <ANY> lines
    out: list[tuple[str, int, str]] = []
    skip_below: int | None = None
    for sign, indent, content in lines:
        if skip_below is not None:
            if indent > skip_below or (indent == skip_below and content[:1] in ")]}"):
                skip_below = None if indent == skip_below else skip_below
                continue
            skip_below = None
        if sign == "-" and "<ANY>" in content:
            pending.append((indent, _key(content)))
            continue
        match = next((p for p in pending if p[0] == indent and p[1] in ("", _key(content))), None)
        if sign == "+" and match is not None:
            pending.remove(match)
            if content.endswith(("{", "[", "(")):
                skip_below = indent
            continue
        out.append((sign, indent, content))
    return out


def _key(line: str) -> str:
    """The dict key a diff line starts with (``'uid': ...`` -> ``'uid'``), else ``""``."""
    match = re.match(r"('[^']*'):", line)
    return match.group(1) if match else ""


def count_unit_tests(src: Path) -> int:
    """How many of their unit tests cover adcore and SimDetector (collected, not run)."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    argv += ["--rootdir", str(src), *UNIT_TESTS]
    proc = subprocess.run(argv, cwd=src, capture_output=True, text=True, timeout=300)
    match = re.search(r"(\d+) tests? collected", proc.stdout)
    if match is None:
        raise SystemExit(f"could not collect {UNIT_TESTS}:\n{proc.stdout[-2000:]}{proc.stderr}")
    return int(match.group(1))


def table(outcomes: Sequence[Outcome], unit_tests: int) -> str:
    """A markdown table: test | result | why."""
    rows = ["| test | result | why |", "|---|---|---|"]
    rows += [f"| {o.test} | {o.result} | {o.why.replace('|', '/')} |" for o in outcomes]
    rows.append(
        f"| {unit_tests} unit tests of adcore and SimDetector | n/a | mock signals, no IOC |"
    )
    return "\n".join(rows)


def run(src: Path, show_output: bool = False, keep: Path | None = None) -> dict[str, object]:
    """Start the IOC, run their tests against it, stop the IOC; return the summary."""
    version = check_source(src)
    import ophyd_async

    ioc = start_ioc()
    try:
        with tempfile.TemporaryDirectory(prefix="oa-upstream-") as tmp:
            outcomes, output = run_system_tests(src, ioc.port, Path(tmp))  # type: ignore[attr-defined]
            if keep is not None:
                shutil.copyfile(Path(tmp) / "junit.xml", keep)
    finally:
        ioc.stop()  # type: ignore[attr-defined]
    if show_output:
        print(output)
    unit_tests = count_unit_tests(src)
    print(table(outcomes, unit_tests))
    summary = {
        "script": "run_ophyd_async_upstream",
        "source_version": version,
        "installed_version": ophyd_async.__version__,
        "tests": [asdict(o) for o in outcomes],
        "passed": sum(o.result == "passed" for o in outcomes),
        "total": len(outcomes),
        "unit_tests_not_applicable": unit_tests,
        "loadavg": os.getloadavg()[0],
    }
    print(json.dumps(summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run_ophyd_async_upstream", description=__doc__.split("\n")[0]
    )
    parser.add_argument("src", type=Path, help="an unpacked ophyd-async sdist")
    parser.add_argument("--json", type=Path, help="append the JSON line to this file")
    parser.add_argument("--show-output", action="store_true", help="print pytest's output")
    parser.add_argument("--keep-report", type=Path, help="copy pytest's JUnit XML here")
    args = parser.parse_args(argv)
    summary = run(args.src.resolve(), args.show_output, args.keep_report)
    if args.json:
        with args.json.open("a", encoding="utf-8") as out:
            out.write(json.dumps(summary) + "\n")
    return 0 if summary["total"] else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
