"""The documentation: every ``>>>`` example runs, and the site builds with ``-W``.

Each page runs in a fresh interpreter (``doctest.testfile``), with ``$FILESTORE_VFS_DATA`` in a
temporary directory, ``$FILESTORE_VFS_CONFIG`` unset and ``$HOME`` in a temporary directory
(so no user config is read), and the temporary directory as the working directory. Examples
may write only under ``/temp``, ``/memory`` or a directory they create with ``tempfile``; the
test checks that ``/local`` stayed empty. A page whose examples cannot run here opts out with a
line ``.. filestore-vfs: no-doctest``.

A page whose examples need live services says so with a line such as
``.. filestore-vfs: needs sim-ioc, tiled``; the test then starts them (once per session, for
the docs alone, so no other test's IOC state is touched) and gives the page's interpreter
their coordinates in the environment (:data:`NEEDS` lists what each service exports), with a
longer timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = DOCS.parent / "README.md"
OPT_OUT = ".. filestore-vfs: no-doctest"
NEEDS_LINE = re.compile(r"^\.\. filestore-vfs: needs (.+)$", re.M)
#: Each service a page may need, and the variables its examples read.
NEEDS = {
    "sim-ioc": ("SIM_IOC_PREFIX", "SIM_IOC_DATA", "EPICS_CA_ADDR_LIST", "EPICS_CA_AUTO_ADDR_LIST"),
    "tiled": ("TILED_URL", "TILED_API_KEY"),
}
#: The writer root of the docs' sim IOC: it writes ``/ioc/data/...`` into ``$SIM_IOC_DATA``.
DOCS_IOC_WRITER_ROOT = "/ioc/data"
PAGE_TIMEOUT = 120
SERVICE_PAGE_TIMEOUT = 300  # a RunEngine, CA connections and a tiled round trip, on 2 cores

_RUNNER = """
import doctest, sys
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
result = doctest.testfile(sys.argv[1], module_relative=False, optionflags=flags, report=True)
print(f"attempted={result.attempted} failed={result.failed}")
sys.exit(1 if result.failed else 0)
"""


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.rst") if "_build" not in p.relative_to(DOCS).parts)


def _with_examples() -> list[Path]:
    pages = []
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        if re.search(r"^\s*>>> ", text, re.M) and OPT_OUT not in text:
            pages.append(page)
    return pages


def page_needs(text: str) -> set[str]:
    """The services a page's ``needs`` line names; ValueError for one we cannot start."""
    needs = {name.strip() for line in NEEDS_LINE.findall(text) for name in line.split(",") if name}
    unknown = needs - set(NEEDS)
    if unknown:
        raise ValueError(f"unknown service(s) {sorted(unknown)}: known are {sorted(NEEDS)}")
    return needs


@pytest.fixture(scope="session")
def docs_sim_ioc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A sim IOC for the docs alone: ``/ioc/data`` mounted on a fresh directory."""
    from sim_iocs.testing import require_softioc, start_sim_ioc

    require_softioc()
    data = tmp_path_factory.mktemp("docs-ioc-data")
    ioc = start_sim_ioc(mounts=[f"{DOCS_IOC_WRITER_ROOT}={data}"], primed=True)
    try:
        yield {"SIM_IOC_PREFIX": ioc.prefix, "SIM_IOC_DATA": str(data), **ioc.environment}
    finally:
        ioc.stop()


@pytest.fixture(scope="session")
def docs_tiled(docs_sim_ioc: dict[str, str]) -> Iterator[dict[str, str]]:
    """A tiled server (``/cat``, our adapters) whose VFS root ``detector`` is the IOC's data."""
    from tests.readback.tiled import start_tiled, wait_for_tiled

    with start_tiled({"detector": Path(docs_sim_ioc["SIM_IOC_DATA"])}, databroker=False) as proc:
        server = wait_for_tiled(proc)
        yield {"TILED_URL": server.url, "TILED_API_KEY": server.api_key}


def _service_env(request: pytest.FixtureRequest, needs: set[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in sorted(needs):
        env.update(request.getfixturevalue(f"docs_{name.replace('-', '_')}"))
        missing = [var for var in NEEDS[name] if var not in env]
        assert not missing, f"the {name} fixture did not export {missing}"
    return env


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FILESTORE_VFS_")}
    env["FILESTORE_VFS_DATA"] = str(tmp_path / "local-root")
    env["HOME"] = str(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path / "tmp")
    for var in ("HOME", "TMPDIR"):
        os.makedirs(env[var], exist_ok=True)
    return env


def _sphinx_build() -> list[str]:
    """``sphinx-build`` of this interpreter (its venv need not be on ``$PATH``)."""
    pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install '.[docs]')")
    return [sys.executable, "-m", "sphinx"]


def test_pages_with_examples_are_found() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in _with_examples()}
    assert {"tutorials/first-vfs.rst", "reference/configuration.rst"} <= names


def test_needs_line_names_known_services() -> None:
    assert page_needs(".. filestore-vfs: needs sim-ioc, tiled\n") == {"sim-ioc", "tiled"}
    assert page_needs("no such line") == set()
    with pytest.raises(ValueError, match=r"unknown service\(s\) \['nfs'\]"):
        page_needs(".. filestore-vfs: needs sim-ioc, nfs\n")
    for page in _pages():  # every page in the tree names only services we can start
        page_needs(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", _with_examples(), ids=lambda p: p.relative_to(DOCS).as_posix())
def test_examples_run(page: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = _clean_env(tmp_path)
    needs = page_needs(page.read_text(encoding="utf-8"))
    if needs:
        # only the docs IOC (the repeater of this process still passes its beacons on)
        env = {k: v for k, v in env.items() if not k.startswith("EPICS_CA_ADDR")}
        env.update(_service_env(request, needs))
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(page)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=SERVICE_PAGE_TIMEOUT if needs else PAGE_TIMEOUT,
    )
    assert proc.returncode == 0, f"examples in {page.name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "attempted=0 " not in proc.stdout
    local = Path(env["FILESTORE_VFS_DATA"])
    written = sorted(str(p.relative_to(local)) for p in local.rglob("*")) if local.exists() else []
    assert not written, f"examples in {page.name} wrote under /local: {written}"


def test_docs_build_without_warnings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *_sphinx_build(),
            "-W",
            "--keep-going",
            "-q",
            "-E",
            "-b",
            "html",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "html" / "index.html").is_file()


def test_index_shows_the_readme_commands() -> None:
    """The two commands on the landing page are the README's first two commands."""
    if not README.is_file():
        pytest.skip("no README.md yet")
    readme = README.read_text(encoding="utf-8")
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    shown = re.findall(r"^   \$ (.+)$", index, re.M)
    assert len(shown) == 2, shown
    for command in shown:
        assert command in readme, f"index.rst shows {command!r}, which README.md does not"


def test_optional_pages_join_the_toctree_when_they_exist(tmp_path: Path) -> None:
    """``sim-ioc``, ``test-servers`` and ``how-to/*`` pages are linked once they are written."""
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("_build"))
    for name, title in [("sim-ioc", "Sim IOC"), ("test-servers", "Test servers")]:
        if not (docs / f"{name}.rst").exists():
            (docs / f"{name}.rst").write_text(f"{title}\n{'=' * len(title)}\n\nText.\n")
    (docs / "how-to").mkdir(exist_ok=True)
    (docs / "how-to" / "zz-example.rst").write_text("Example\n=======\n\nText.\n")
    proc = subprocess.run(
        [*_sphinx_build(), "-W", "-q", "-E", "-b", "html", str(docs), str(tmp_path / "html")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    for target in ("sim-ioc.html", "test-servers.html", "how-to/zz-example.html"):
        assert f'href="{target}"' in index, target
