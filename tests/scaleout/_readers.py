"""A reader process for the scale-out tests: ``python -m tests.scaleout._readers MODE ARGS``.

It connects with tiled's client to ``--url`` (API key in ``$TILED_API_KEY``, never in argv),
reads runs made by :mod:`tests.scaleout._synthetic` and checks every frame against the run's
pattern seed. It prints one JSON line at the end and exits 0 only when nothing was wrong.

``verify``: wait until each run in ``--uids`` (a JSON file) is complete in the catalog, and
check each once (whole arrays). ``loop``: read the runs in ``--uids`` frame by frame, over and
over, appending a line to ``--progress`` after each pass, until the file ``--stop`` exists;
it counts the client's retries (tiled logs each on the ``tiled.client`` logger).
Both give up at ``--deadline`` seconds with a problem that says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.scaleout._synthetic import KEY, check_run, frames

POLL = 0.2


class _RetryCounter(logging.Handler):
    """Counts tiled's "Retrying (attempt n)" log records: the client retried a request."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Retrying"):
            self.count += 1


def _client(url: str) -> Any:
    from tiled.client import from_uri

    return from_uri(url, api_key=os.environ["TILED_API_KEY"])


def verify(client: Any, uids: list[str], deadline: float) -> dict[str, Any]:
    """Check each run once it is complete (its stop document stored)."""
    verified: list[str] = []
    problems: list[str] = []
    pending = list(uids)
    while pending and time.monotonic() < deadline:
        for uid in list(pending):
            if uid not in client or not client[uid].metadata.get("stop"):
                continue
            problems += check_run(client[uid])
            verified.append(uid)
            pending.remove(uid)
        if pending:
            time.sleep(POLL)
    if pending:
        problems.append(f"deadline passed; runs never complete: {pending}")
    return {"verified": verified, "problems": problems}


def _one_pass(client: Any, uids: list[str]) -> tuple[int, list[str]]:
    reads, problems = 0, []
    for uid in uids:
        node = client[uid]
        start = node.metadata["start"]
        want = frames(int(start["pattern_seed"]), int(start["frames"]))
        array = node["primary"][KEY]
        for k in range(len(want)):
            if not np.array_equal(np.asarray(array[k]), want[k]):
                problems.append(f"run {uid}: frame {k} differs")
            reads += 1
    return reads, problems


def loop(client: Any, uids: list[str], progress: Path, stop: Path, deadline: float) -> dict:
    """Read frame by frame until ``stop`` exists, one progress line per pass."""
    counter = _RetryCounter()
    logger = logging.getLogger("tiled.client")
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    reads, passes, problems = 0, 0, []
    while not stop.exists():
        if time.monotonic() > deadline:
            problems.append("deadline passed before the stop file appeared")
            break
        n, bad = _one_pass(client, uids)
        reads, passes, problems = reads + n, passes + 1, problems + bad
        with open(progress, "a") as fh:
            fh.write(f"{passes}\n")
    return {"reads": reads, "passes": passes, "retries": counter.count, "problems": problems}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["verify", "loop"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--uids", required=True, type=Path)
    parser.add_argument("--progress", type=Path)
    parser.add_argument("--stop", type=Path)
    parser.add_argument("--deadline", type=float, default=300.0)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.deadline
    uids = json.loads(args.uids.read_text())
    try:
        client = _client(args.url)
        if args.mode == "verify":
            result = verify(client, uids, deadline)
        else:
            result = loop(client, uids, args.progress, args.stop, deadline)
    except Exception as exc:  # reported to the test, which shows it
        result = {"problems": [f"{type(exc).__name__}: {exc}"]}
    print(json.dumps(result), flush=True)
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
