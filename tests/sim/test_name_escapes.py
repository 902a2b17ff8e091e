"""HDF1/TIFF1 refuse a FileName or FileTemplate whose full file name leaves FilePath.

Only ``FilePath`` was checked against the mounts; ``FileName="../../x"`` or
``FileTemplate="%s../../%s_%d.tiff"`` wrote outside them (WriteStatus 0). Now each is refused
as a bad ``FilePath`` is, over real Channel Access: the put completes with its readback
current and ``WriteStatus`` = Write error with a ``WriteMessage`` saying why (read back at
once, without a monitor, after a put with ``wait=True``); a frame then acquired writes no
file anywhere (the whole pytest base directory is compared before and after), and the
next open says why too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim_iocs._file_plugins import (
    FileNameError,
    check_file_name,
    check_full_file_name,
)

pytestmark = pytest.mark.ioc

TEMPLATES = {"HDF1:": "%s%s_%6.6d.h5", "TIFF1:": "%s%s_%6.6d.tiff"}

# (mount, FileName) pairs; "{abs}" is an absolute host directory outside every mount.
BAD_NAMES = {
    "posix-dotdot": ("posix", "../../escaped"),
    "posix-dotdot-deep": ("posix", "../../../../escaped"),
    "posix-inner-dotdot": ("posix", "sub/../../../escaped"),
    "posix-backslash-dotdot": ("posix", "..\\..\\escaped"),
    "posix-absolute": ("posix", "{abs}/escaped"),
    "posix-drive": ("posix", "C:\\escaped"),
    "posix-drive-relative": ("posix", "C:escaped"),
    "posix-unc": ("posix", "\\\\server\\share\\escaped"),
    "win-dotdot": ("win", "..\\..\\escaped"),
    "win-slash-dotdot": ("win", "../../escaped"),
    "win-drive": ("win", "E:\\escaped"),
    "win-unc": ("win", "\\\\server\\share\\escaped"),
    "win-absolute-posix": ("win", "{abs}/escaped"),
}
# (mount, FileTemplate) pairs
BAD_TEMPLATES = {
    "posix-dotdot": ("posix", "%s../../%s_%d.tiff"),
    "posix-dotdot-after-name": ("posix", "%s%s/../../../x_%d.h5"),
    "posix-not-in-path": ("posix", "{abs}/%s%s_%d.h5"),
    "posix-drive": ("posix", "%sC:\\%s_%d.h5"),
    "win-dotdot": ("win", "%s..\\..\\%s_%d.tiff"),
    "win-not-in-path": ("win", "E:\\%s%s_%d.h5"),
}


def _writer_dir(mount: str, name: str) -> str:
    if mount == "win":
        return f"D:\\data\\{name}\\a\\b\\"
    return f"/ioc/data/{name}/a/b/"


def _files(top: Path) -> set[Path]:
    return {p for p in top.rglob("*") if not p.is_dir()}


@pytest.fixture
def plugin_dir(ca, sim_data, tmp_path):
    """Make ``<mount>/<test>/a/b`` and return a function that sets a plugin up on it; every
    plugin's FileName and FileTemplate are restored afterwards (the IOC is the session's)."""
    used: list[str] = []

    def setup(plugin: str, mount: str) -> tuple[str, Path]:
        host = sim_data / mount / tmp_path.name / "a" / "b"
        host.mkdir(parents=True, exist_ok=True)
        writer = _writer_dir(mount, tmp_path.name)
        ca.setup_file_plugin(plugin, writer, mode="Single")
        ca.wait_for(f"{plugin}FilePathExists_RBV", 1)
        used.append(plugin)
        return writer, host

    yield setup
    for plugin in used:
        ca.put(f"{plugin}FileName", "img")
        ca.put(f"{plugin}FileTemplate", TEMPLATES[plugin])


def _assert_refused_then_nothing_written(ca, plugin, pv, value, base, before):
    """The put's readback and the error are current at once; a frame writes no file."""
    assert ca.get(f"{plugin}{pv}_RBV", as_string=True) == value
    assert ca.get(f"{plugin}WriteStatus", as_string=True) == "Write error"
    message = ca.get(f"{plugin}WriteMessage", as_string=True)
    assert f"{pv} refused" in message and "no file will be written" in message, message
    number = ca.get(f"{plugin}FileNumber_RBV")
    ca.acquire(1)
    ca.wait_for_error(plugin, "Error creating full file name")
    assert ca.get(f"{plugin}FileNumber_RBV") == number  # nothing opened, nothing counted
    assert _files(base) == before


@pytest.mark.parametrize("plugin", ["HDF1:", "TIFF1:"])
@pytest.mark.parametrize(("mount", "name"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_file_name_leaving_file_path_is_refused(
    ca, plugin_dir, tmp_path_factory, tmp_path, plugin, mount, name
):
    base = tmp_path_factory.getbasetemp()
    name = name.replace("{abs}", str(tmp_path))
    plugin_dir(plugin, mount)
    before = _files(base)
    ca.put(f"{plugin}FileName", name)
    _assert_refused_then_nothing_written(ca, plugin, "FileName", name, base, before)


@pytest.mark.parametrize("plugin", ["HDF1:", "TIFF1:"])
@pytest.mark.parametrize(("mount", "template"), BAD_TEMPLATES.values(), ids=BAD_TEMPLATES.keys())
def test_file_template_leaving_file_path_is_refused(
    ca, plugin_dir, tmp_path_factory, tmp_path, plugin, mount, template
):
    base = tmp_path_factory.getbasetemp()
    template = template.replace("{abs}", str(tmp_path))
    plugin_dir(plugin, mount)
    before = _files(base)
    ca.put(f"{plugin}FileTemplate", template)
    _assert_refused_then_nothing_written(ca, plugin, "FileTemplate", template, base, before)


@pytest.mark.parametrize("plugin", ["HDF1:", "TIFF1:"])
def test_names_that_stay_inside_are_written_there(ca, plugin_dir, plugin):
    """No over-refusal: a sub-directory in FileName, and ``%s/%s`` (a doubled separator,
    which the OS reads as one; the sim once joined it as an absolute path)."""
    _, host = plugin_dir(plugin, "posix")
    (host / "sub").mkdir()
    ext = TEMPLATES[plugin].rsplit(".", 1)[1]
    ca.put(f"{plugin}FileName", "sub/img")
    ca.acquire(1)
    ca.wait_for(f"{plugin}FileNumber_RBV", 1)
    ca.put(f"{plugin}FileName", "img")
    ca.put(f"{plugin}FileTemplate", f"%s/%s_%6.6d.{ext}")
    ca.acquire(1)
    ca.wait_for(f"{plugin}FileNumber_RBV", 2)
    assert ca.get(f"{plugin}WriteStatus", as_string=True) == "Write OK"
    assert sorted(p.relative_to(host).as_posix() for p in _files(host)) == [
        f"img_000001.{ext}",
        f"sub/img_000000.{ext}",
    ]


def test_a_later_good_name_writes_again(ca, plugin_dir, tmp_path_factory):
    """After a refusal, a good FileName writes its file and the open clears the error."""
    _, host = plugin_dir("HDF1:", "posix")
    ca.put("HDF1:FileName", "../../escaped")
    ca.wait_for_error("HDF1:", "FileName refused")
    ca.put("HDF1:FileName", "img")
    ca.acquire(1)
    ca.wait_for("HDF1:FileNumber_RBV", 1)
    assert ca.get("HDF1:WriteStatus", as_string=True) == "Write OK"
    assert [p.name for p in _files(host)] == ["img_000000.h5"]


# -- the checks themselves (NUL bytes cannot travel in a CA string) -------------------
@pytest.mark.parametrize(
    "name", ["a\x00b", "../x", "a/../../x", "/x", "\\x", "\\\\srv\\share\\x", "C:x", "c:\\x"]
)
def test_check_file_name_refuses(name):
    with pytest.raises(FileNameError):
        check_file_name(name)


@pytest.mark.parametrize(
    ("path", "full"),
    [
        ("/ioc/data/", "/ioc/data/img_000000.h5\x00.txt"),
        ("/ioc/data/", "/ioc/data/../../x_000000.h5"),
        ("/ioc/data/", "/elsewhere/ioc/data/x_000000.h5"),
        ("D:\\data\\", "D:\\data\\..\\x_000000.h5"),
        ("D:\\data\\", "D:\\data\\E:\\x_000000.h5"),
    ],
)
def test_check_full_file_name_refuses(path, full):
    with pytest.raises(FileNameError):
        check_full_file_name(path, full)


def test_check_full_file_name_keeps_names_inside():
    assert check_full_file_name("/ioc/data/", "/ioc/data//img_1.h5") == "img_1.h5"
    assert check_full_file_name("D:\\d\\", "D:\\d\\sub\\img_1.h5") == "sub\\img_1.h5"
    assert check_full_file_name("/p/", "/p/scan_12:30_1.h5") == "scan_12:30_1.h5"
