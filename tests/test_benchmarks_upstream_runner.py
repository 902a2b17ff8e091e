"""``benchmarks/run_ophyd_async_upstream.py``: its report, without running ophyd-async's tests.

The whole script needs ophyd-async's sdist and a minute (see
docs/explanations/ophyd-async-upstream-tests.rst); what it concludes from pytest's JUnit
report is checked here on reports written for the purpose.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from benchmarks.run_ophyd_async_upstream import Outcome, check_source, parse_junit, reason

#: pytest's full diff of ``docs == [...]`` (``+`` got, ``-`` expected), as it appears in a
#: JUnit failure: ANY placeholders, a nested value behind one, and one real difference.
DIFF = """\
E     Full diff:
E       [
E           {
E               'detectors': [
E   -               <ANY>,
E   +               'SimDetector(name="adsim")',
E               ],
E   -           'versions': <ANY>,
E   +           'versions': {
E   +               'bluesky': '1.15.1',
E   +               'event_model': '1.24.0',
E   +           },
E               'num_points': 2,
E           },
E           {
E               'name': 'primary',
E   +           'object_classes': {},
E   -           'time': <ANY>,
E   +           'time': 1796447873.6,
E   -           'shape': [1, 1024, 1024],
E   +           'shape': [1, 64, 64],
E           },
E       ]
"""


def test_reason_keeps_only_what_really_differs() -> None:
    why = reason("assert [...] == [...]", DIFF)
    assert why == (
        "got 'object_classes': {},; expected 'shape': [1, 1024, 1024],; got 'shape': [1, 64, 64],"
    )


def test_reason_without_a_diff_is_the_message() -> None:
    assert reason("TimeoutError:  waiting\n for DET:Acquire", "Traceback ...") == (
        "TimeoutError: waiting for DET:Acquire"
    )


def test_parse_junit_reads_each_outcome(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="t" name="test_a" time="1"/>'
        '<testcase classname="t" name="test_b" time="1">'
        f'<failure message="assert [...] == [...]">{escape(DIFF)}</failure></testcase>'
        '<testcase classname="t" name="test_c" time="0">'
        '<skipped message="no IOC"/></testcase>'
        "</testsuite></testsuites>"
    )
    outcomes = parse_junit(report)
    assert [(o.test, o.result) for o in outcomes] == [
        ("test_a", "passed"),
        ("test_b", "failed"),
        ("test_c", "skipped"),
    ]
    assert outcomes[0] == Outcome("test_a", "passed", "")
    assert outcomes[1].why.startswith("got 'object_classes': {},")
    assert outcomes[2].why == "no IOC"


def test_a_tree_without_their_tests_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="has no tests/container_tests/test_adsim_system.py"):
        check_source(tmp_path)
