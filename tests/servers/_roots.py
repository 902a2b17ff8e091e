"""The filestore-vfs root spec of a loopback server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar


class VfsRoot:
    """Mixin of the server dataclasses: :meth:`vfs_root` is a filestore-vfs root spec that
    reaches the server (the tests' and the benchmarks' roots start from it)."""

    #: the root class, by its YAML name
    ROOT_CLASS: ClassVar[str]
    #: root option -> the attribute that holds its value (a path becomes a string)
    ROOT_OPTIONS: ClassVar[dict[str, str]]

    def vfs_root(self, **extra: Any) -> dict[str, Any]:
        """The root spec; ``extra`` adds options or overrides these."""
        options = {}
        for option, attribute in self.ROOT_OPTIONS.items():
            value = getattr(self, attribute)
            options[option] = str(value) if isinstance(value, Path) else value
        return {"class": self.ROOT_CLASS, **options, **extra}
