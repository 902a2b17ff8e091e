"""Every bad input of the write side: a clear error, PVs restored, no stale asset documents."""

from __future__ import annotations

import pytest

from filestore_vfs import UnknownRootError, VirtualFileSystem
from filestore_vfs.areadetector import HDF5PluginWithVFS, PathTemplates, TIFFPluginWithVFS
from sim_iocs.testing import require_softioc, sim_ioc

from .conftest import make_detector, run_count

VFS = VirtualFileSystem(
    {
        "detector": {"class": "MemoryFile", "writer_root": "D:\\data"},
        "nfs": {"class": "MemoryFile", "writer_root": "/ioc/data"},
    }
)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"root": "/nope", "write_path_template": "x"}, UnknownRootError, "unknown root '/nope'"),
        (
            {"root": "/nfs", "write_path_template": "x", "read_path_template": "/detector/x"},
            ValueError,
            "not under root /nfs",
        ),
        ({"root": "/nfs", "write_path_template": "/elsewhere/x"}, ValueError, "under no root"),
        ({"root": "/nfs", "write_path_template": "D:\\data\\x"}, ValueError, "not /nfs"),
        ({"root": "/nfs", "write_path_template": "%Y/%Q"}, ValueError, "strftime does not know"),
        ({"root": "/nfs", "write_path_template": "../x"}, PermissionError, "not normal"),
        ({"write_path_template": "relative/%Y"}, ValueError, "pass root="),
        (
            {"root": "/nfs", "write_path_template": "x", "path_semantics": "windows"},
            ValueError,
            "contradicts root /nfs",
        ),
    ],
)
def test_bad_templates_fail_at_construction(kwargs, error, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=match):
        PathTemplates(VFS, **{"root": None, **kwargs})


def test_root_derived_from_absolute_write_template() -> None:
    plan = PathTemplates(VFS, root=None, write_path_template="d:/DATA/2026/%m").plan()
    assert plan.root == "detector" and plan.rel_dir.startswith("2026/")
    assert plan.writer_dir.startswith("D:\\data\\2026\\") and plan.writer_dir.endswith("\\")


def test_pluggable_formatter_for_visit_directories() -> None:
    def visit(template: str, now: object) -> str:
        return template.format(proposal="p42", visit="v7")

    plan = PathTemplates(
        VFS, root="/nfs", write_path_template="{proposal}/{visit}", path_formatter=visit
    ).plan()
    assert plan.writer_dir == "/ioc/data/p42/v7/" and plan.logical_dir == "/nfs/p42/v7/"


@pytest.mark.ioc
@pytest.mark.usefixtures("eager_devices")
class TestWithIOC:
    def test_restage_without_unstage_puts_nothing(self, ioc, vfs) -> None:  # type: ignore[no-untyped-def]
        from ophyd.device import RedundantStaging

        det = make_detector(
            ioc,
            HDF5PluginWithVFS,
            "hdf1",
            root="/nfs",
            write_path_template="restage",
            vfs=vfs,
            make_directories=True,
        )
        det.stage()
        try:
            name = det.hdf1.file_name.get()
            with pytest.raises(RedundantStaging):
                det.hdf1.stage()
            assert det.hdf1.file_name.get() == name
        finally:
            det.unstage()

    def test_trigger_after_unstage_makes_no_datum(self, ioc, vfs) -> None:  # type: ignore[no-untyped-def]
        det = make_detector(
            ioc,
            HDF5PluginWithVFS,
            "hdf1",
            root="/nfs",
            write_path_template="after",
            vfs=vfs,
            make_directories=True,
        )
        det.stage()
        det.unstage()
        with pytest.raises(RuntimeError, match="not staged"):
            det.hdf1.generate_datum("det_image", 0.0, {})
        assert list(det.hdf1.collect_asset_docs()) == []

    def test_disabled_plugin_emits_no_documents(self, ioc, vfs) -> None:  # type: ignore[no-untyped-def]
        det = make_detector(
            ioc,
            TIFFPluginWithVFS,
            "tiff1",
            root="/nfs",
            write_path_template="disabled",
            vfs=vfs,
            make_directories=True,
        )
        det.tiff1.stage_sigs["enable"] = 0
        docs = run_count(det, 2)
        names = [n for n, _ in docs]
        assert "resource" not in names and "datum" not in names
        assert names.count("event") == 2

    def test_unprimed_plugin_says_how_to_prime(self, mounts, vfs, eager_devices) -> None:  # type: ignore[no-untyped-def]
        from ophyd.areadetector.plugins import UnprimedPlugin

        require_softioc()
        with sim_ioc(mounts=[f"/ioc/data={mounts['posix']}"]) as fresh:
            det = make_detector(
                fresh,
                HDF5PluginWithVFS,
                "hdf1",
                root="/nfs",
                write_path_template="unprimed",
                vfs=vfs,
                make_directories=True,
            )
            name = det.hdf1.file_name.get()
            with pytest.raises(UnprimedPlugin, match=r"warmup\(\)"):
                det.stage()
            assert det.hdf1.file_name.get() == name  # refused before any PV was written

    def test_ioc_gone_at_stage_is_a_bounded_clear_error(self, mounts, vfs) -> None:  # type: ignore[no-untyped-def]
        require_softioc()
        with sim_ioc(mounts=[f"/ioc/data={mounts['posix']}"], primed=True) as doomed:
            det = make_detector(
                doomed,
                HDF5PluginWithVFS,
                "hdf1",
                root="/nfs",
                write_path_template="gone",
                vfs=vfs,
                make_directories=True,
                stage_timeout=2.0,
            )
            doomed.stop()
            with pytest.raises(TimeoutError) as info:
                det.stage()
            assert "within 2.0 s" in str(info.value) or "connect" in str(info.value)
            assert list(det.hdf1.collect_asset_docs()) == []
