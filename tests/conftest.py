"""Hypothesis profiles: `ci` (the default: fast and deterministic) and `thorough`.

Choose one with the HYPOTHESIS_PROFILE environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---- the decision log's stores ---------------------------------------------------------------

import pytest  # noqa: E402

from tests.log_backends import LogBackend, SQLiteBackend  # noqa: E402


@pytest.fixture(params=["sqlite"])
def log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    """An empty decision log on each backend in turn."""
    return SQLiteBackend(tmp_path)
