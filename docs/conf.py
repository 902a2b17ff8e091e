"""Sphinx configuration of the filestore-vfs documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``tox -e docs``).
Every ``>>>`` example in these pages also runs in ``tests/test_docs.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import filestore_vfs

project = "filestore-vfs"
author = "filestore-vfs contributors"
copyright = "2026, filestore-vfs contributors"  # noqa: A001  # Sphinx's name
release = filestore_vfs.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
root_doc = "index"
html_theme = "alabaster"
html_static_path: list[str] = []  # no static files of our own (an empty _static is not in git)
html_title = f"filestore-vfs {release}"
html_theme_options = {
    "description": "One logical name per detector file",
    "fixed_sidebar": True,
}
pygments_style = "sphinx"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
napoleon_google_docstring = False
napoleon_numpy_docstring = True
nitpicky = False

# -- pages written by other work items --------------------------------------------------
#: Toctree entries that may not exist yet: they are listed in index.rst and dropped from
#: the toctree (with no warning) while their file is missing, so ``-W`` keeps passing.
optional_pages = {"sim-ioc", "test-servers"}
_HERE = Path(__file__).parent
_GLOB = re.compile(r"[*?\[]")


def _matches(entry: str, listed: set[str]) -> bool:
    """Whether a toctree entry (a docname or a glob pattern) names a source file.

    A glob only counts files that its toctree does not already list by name, as Sphinx does.
    """
    if not _GLOB.search(entry):
        return (_HERE / f"{entry}.rst").is_file()
    found = {p.relative_to(_HERE).with_suffix("").as_posix() for p in _HERE.glob(entry + ".rst")}
    return bool(found - listed - {root_doc})


def _drop_missing_entries(app: object, docname: str, source: list[str]) -> None:
    """Remove optional toctree entries and empty globs from ``index.rst`` before parsing.

    Sphinx warns about a toctree entry whose document is missing and about a glob that
    matches nothing; both are expected while other pages are being written.
    """
    if docname != root_doc:
        return
    # split into runs: a toctree directive with its indented body, or anything else
    runs: list[tuple[bool, list[str]]] = [(False, [])]
    for line in source[0].splitlines():
        if line.startswith(".. toctree::"):
            runs.append((True, [line]))
        elif runs[-1][0] and line.strip() and not line.startswith("   "):
            runs.append((False, [line]))
        else:
            runs[-1][1].append(line)
    out: list[str] = []
    for is_toctree, lines in runs:
        if not is_toctree:
            out.extend(lines)
            continue
        body = [ln.strip() for ln in lines[1:] if ln.strip() and not ln.strip().startswith(":")]
        listed = set(body)
        for line in lines:
            entry = line.strip()
            optional = entry in listed and (entry in optional_pages or bool(_GLOB.search(entry)))
            if optional and not _matches(entry, listed):
                continue
            out.append(line)
    source[0] = "\n".join(out) + "\n"


def setup(app: object) -> dict[str, object]:
    app.connect("source-read", _drop_missing_entries)  # type: ignore[attr-defined]
    return {"parallel_read_safe": True}
