"""The same AWS world and handler invocation as the functional tests."""

from tests.functional.conftest import sentry, world

__all__ = ["sentry", "world"]
