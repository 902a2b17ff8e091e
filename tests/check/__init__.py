"""Tests of ``filestore-vfs check`` and ``migrate`` and their library, ``filestore_vfs.check``."""
