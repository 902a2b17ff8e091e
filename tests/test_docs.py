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

import contextlib
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


DEPLOYMENT = DOCS / "how-to" / "tiled-postgresql.rst"


def _captioned_block(page: Path, caption: str) -> str:
    """The body of the ``code-block`` whose ``:caption:`` is ``caption``, dedented."""
    text = page.read_text(encoding="utf-8")
    match = re.search(
        rf"^\.\. code-block:: \w+\n   :caption: {re.escape(caption)}\n\n((?:   .*\n|\n)+)",
        text,
        re.M,
    )
    assert match, f"{page.name} has no code block captioned {caption}"
    return "\n".join(line[3:] for line in match.group(1).splitlines()).strip() + "\n"


def test_deployment_configs_are_the_tested_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deployment page's server VFS YAML, tiled config and systemd unit parse, and have
    the roots, keys, adapters, flags and environment of what ``tests/scaleout`` (``pg_tiled``) and
    ``benchmarks/bench_scaleout.py`` run (``tests/scaleout/_tiled.py``), so the page cannot
    drift from the tested deployment unnoticed."""
    import inspect
    import shlex

    import yaml

    from filestore_vfs import VirtualFileSystem
    from tests.readback.tiled import ADAPTERS
    from tests.scaleout import conftest as pg
    from tests.scaleout._tiled import (
        MEDIA_TYPES,
        TiledCluster,
        catalog_config,
        server_config,
        tiled_cluster,
    )
    from tests.servers._s3 import S3Server

    # the server's VFS: pg_tiled's roots (tests/scaleout/conftest.py), option for option
    vfs_text = _captioned_block(DEPLOYMENT, "/etc/filestore-vfs/server.yaml")
    roots = yaml.safe_load(vfs_text)["vfs"]["roots"]
    s3 = S3Server("127.0.0.1", 1, 1, "http://127.0.0.1:1", "key", "secret")
    tested = pg.server_roots({"win": Path("/mnt/ioc")}, s3)
    assert {name: set(spec) for name, spec in roots.items()} == {
        name: set(spec) for name, spec in tested.items()
    }
    assert {n: s["class"] for n, s in roots.items()} == {n: s["class"] for n, s in tested.items()}
    assert roots["store"]["prefix"] == tested["store"]["prefix"]
    assert "${S3_SECRET_KEY}" in vfs_text  # secrets by reference only
    monkeypatch.setenv("S3_ACCESS_KEY", "access")
    monkeypatch.setenv("S3_SECRET_KEY", "secret")
    vfs = VirtualFileSystem.from_yaml(vfs_text)
    try:
        assert vfs.resolve("/store/2026/x.h5").url.startswith("s3://xf42id/xf42id-store/")
        assert vfs.resolve("/detector/2026/x.h5").root == "detector"
    finally:
        vfs.close()

    # the tiled config: pg_tiled's keys, adapters, exporter, databases and password variable
    config = yaml.safe_load(_captioned_block(DEPLOYMENT, "/etc/tiled/config.yml"))
    uri = "postgresql+asyncpg://tiled:${TILED_DB_PASSWORD}@db/xf42id"
    ran = server_config(catalog_config(uri, Path("/w"), ["/detector"]), "api-key")
    assert set(config) == set(ran) | {"media_types"}  # tiled_cluster adds MEDIA_TYPES
    assert config["media_types"] == MEDIA_TYPES
    (tree,) = config["trees"]
    (ran_tree,) = ran["trees"]
    assert set(tree) == set(ran_tree) and tree["tree"] == ran_tree["tree"] == "catalog"
    args = tree["args"]
    assert set(args) == set(ran_tree["args"])
    assert args["adapters_by_mimetype"] == ADAPTERS
    assert args["readable_storage"] == [f"/{name}" for name in tested]
    variable = "${" + pg.PASSWORD_VARIABLE + "}"
    assert args["uri"].startswith("postgresql+asyncpg://") and variable in args["uri"]
    assert args["uri"].endswith(f"/{pg.DATABASE}") and args["init_if_not_exists"] is False
    directory, tables = args["writable_storage"]
    assert directory.startswith("/") and tables.startswith("postgresql://")
    assert variable in tables and tables.endswith(f"/{pg.TABLES_DATABASE}")

    # the unit: the test cluster's command line and the two variables it sets
    unit = _captioned_block(DEPLOYMENT, "/etc/systemd/system/tiled.service")
    service = dict(re.findall(r"^(ExecStart|EnvironmentFile|User)=(.*)$", unit, re.M))
    argv = shlex.split(service["ExecStart"])
    expected = TiledCluster("http://h:1", 1, 4, Path("/w"), {}, "key").argv()[1:]
    for flag in ("--host", "--port", "--workers"):  # the values are the site's own
        expected[expected.index(flag) + 1] = argv[argv.index(flag) + 1]
    assert argv[1:] == expected
    assert argv[argv.index("--workers") + 1].isdigit()
    environment = dict(line.split("=", 1) for line in re.findall(r"^Environment=(.*)$", unit, re.M))
    assert environment == {
        "TILED_CONFIG": "/etc/tiled/config.yml",
        "FILESTORE_VFS_CONFIG": "/etc/filestore-vfs/server.yaml",
    }
    source = inspect.getsource(tiled_cluster)
    assert all(f'"{name}"' in source for name in environment)  # what the test cluster sets
    assert service["EnvironmentFile"] and service["User"] != "root"


def test_deployment_postgres_steps_run_as_written() -> None:
    """The page's ``psql`` statements and ``tiled catalog init`` run as written on a fresh
    PostgreSQL (only the password and the host are this machine's): a role that is no
    superuser owns the databases and can initialise the catalog (``btree_gin`` is trusted)."""
    import secrets
    import shlex

    from tests.servers._fixtures import require_server
    from tests.servers._postgres import ServerUnavailable, postgres_server

    text = DEPLOYMENT.read_text(encoding="utf-8")
    statements = re.findall(r"^   postgres=# (.+)$", text, re.M)
    (init,) = re.findall(r"^   \$ (tiled catalog init .+)$", text, re.M)
    assert any(s.startswith("CREATE ROLE") for s in statements), statements
    password = secrets.token_urlsafe(12)
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(postgres_server())
        except ServerUnavailable as exc:
            require_server("postgres", exc)
        for statement in statements:
            server.psql(statement.replace("choose-one", password))
        argv = shlex.split(init.replace("${TILED_DB_PASSWORD}", password))
        argv[-1] = argv[-1].replace("db.example.org", f"{server.host}:{server.port}")
        tiled = str(Path(sys.executable).with_name("tiled"))
        done = subprocess.run([tiled, *argv[1:]], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        assert password not in done.stdout + done.stderr  # tiled redacts it
        role = re.findall(r"CREATE ROLE (\w+) ", " ".join(statements))[0]
        assert server.psql(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'") == "f"
        owner = server.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'nodes'", "xf42id")
        assert owner == role
        assert server.psql("SELECT extname FROM pg_extension WHERE extname = 'btree_gin'", "xf42id")
        assert (
            server.psql("SELECT count(*) FROM pg_database WHERE datname = 'xf42id_tables'") == "1"
        )
