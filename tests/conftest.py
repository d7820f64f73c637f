"""Hypothesis profiles: `ci` (the default: fast and deterministic) and `thorough`.

Choose one with the HYPOTHESIS_PROFILE environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

# a diagnostic raised with a code `clausewise.dsl.codes` does not declare (or with another
# severity) fails the test that raised it, here and in the CLI processes the tests start
os.environ["CLAUSEWISE_CHECK_CODES"] = "1"

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

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from tests.log_backends import LogBackend, PostgresBackend, SQLiteBackend  # noqa: E402
from tests.pg_cluster import PostgresCluster, find_postgres_bin  # noqa: E402

_POSTGRES_ABSENT = (
    "PostgreSQL IS ABSENT (no initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH): "
    "the decision log's PostgreSQL tests did NOT run; install Debian's `postgresql` package"
)
_postgres_skips: list[str] = []


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throwaway PostgreSQL server for the whole session, on a free loopback port.

    Skipped, loudly, only when the server's binaries are absent.
    """
    bindir = find_postgres_bin()
    if bindir is None:
        _postgres_skips.append(_POSTGRES_ABSENT)
        pytest.skip(_POSTGRES_ABSENT)
    cluster = PostgresCluster(bindir)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def log_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LogBackend:
    """An empty decision log on each backend in turn."""
    if request.param == "postgresql":
        return PostgresBackend(request.getfixturevalue("postgres_cluster"))
    return SQLiteBackend(tmp_path)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _postgres_skips:
        terminalreporter.write_sep("!", _POSTGRES_ABSENT, red=True, bold=True)
