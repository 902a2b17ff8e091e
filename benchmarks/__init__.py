"""Benchmarks of filestore-vfs: ``python -m benchmarks [name ...] [--size 64MiB]``.

Every ``bench_*.py`` module in this package is one benchmark. It exposes
``run(options) -> list[Figure]`` and may expose ``add_arguments(parser)``; each
:class:`~benchmarks._report.Figure` holds our number and its anchor (the plain-Python or
stock-tool equivalent) measured in the same run, so the ratio means something on any machine.
These are scripts, not timed tests: CI does not fail on them.
"""
