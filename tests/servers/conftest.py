"""Make the server fixtures available to the tests in this directory.

Once the rootdir ``tests/conftest.py`` declares
``pytest_plugins = ["tests.servers._fixtures"]`` this is a no-op; until then
it registers the same plugin itself, so the fixtures are defined only once
(and each server still starts only once per session).
"""

from __future__ import annotations

import pytest

PLUGIN = "tests.servers._fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
