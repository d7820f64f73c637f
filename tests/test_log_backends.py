"""The decision log's behaviour, the same on every backend (SQLite file, PostgreSQL server)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from clausewise.log import (
    DecisionLog,
    DecisionRecord,
    LogUnavailableError,
    new_decision_id,
    open_log,
)
from tests.log_backends import LogBackend

NOW = dt.datetime.now(dt.UTC)


def record(
    n: int = 0,
    *,
    at: dt.datetime | None = None,
    policy: str = "promotions/click-credit",
    kind: str = "live",
    shadow_of: str | None = None,
    output: dict[str, Any] | None = None,
    **fields: Any,
) -> DecisionRecord:
    out = output if output is not None else {"eligible": n % 2 == 0, "credit": str(n)}
    return DecisionRecord(
        decision_id=fields.pop("decision_id", new_decision_id()),
        time=at or dt.datetime.now(dt.UTC),
        policy=policy,
        version=fields.pop("version", "1.0.0"),
        revision="sha256:" + "ab" * 32,
        input=fields.pop("input", {"n": n, "advertiser": {"id": f"A{n}", "tags": ["x", n]}}),
        output=out,
        outcome=f"eligible={'true' if out.get('eligible') else 'false'}",
        explanation=fields.pop("explanation", f"decision {n}\n  rule r{n} fired"),
        trace=fields.pop("trace", {"rules": [{"id": f"r{n}", "fired": True}]}),
        kind=kind,
        shadow_of=shadow_of,
    )


def append_all(log: DecisionLog, records: list[DecisionRecord]) -> None:
    log.append(records).result(timeout=30)


def all_records(log: DecisionLog, **filters: Any) -> list[DecisionRecord]:
    out: list[DecisionRecord] = []
    after = None
    while True:
        page, after = log.query(limit=1000, after=after, **filters)
        out.extend(page)
        if after is None:
            return out


def wait_until(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# ---- writing and reading back --------------------------------------------------------------


def test_a_record_reads_back_exactly_as_appended(log_backend: LogBackend) -> None:
    odd = {
        "nul": "a\u0000b",
        "lone surrogate": "\ud800",
        "accents and emoji": "crédit 💳",
        "deep": [[[{"k": [1, 2.5, None, True]}]]],
        "big": 10**30,
    }
    rec = record(
        7,
        at=dt.datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        input=odd,
        explanation="why: the name is \u0000 odd \ud800 and crédit",
    )
    with open_log(log_backend.url) as log:
        append_all(log, [rec])
        got = log.get(rec.decision_id)
    assert got == rec
    assert got is not None and got.time.utcoffset() == dt.timedelta(0)
    assert got.to_json()["time"] == "2026-03-01T10:30:05.123456Z"
    with open_log(log_backend.url) as again:  # a new connection sees it: it was committed
        assert again.get(rec.decision_id) == rec
        assert again.get(new_decision_id()) is None


def test_text_of_every_kind_reads_back(log_backend: LogBackend) -> None:
    """Values the fast encoder writes (no lone surrogate, no huge integer) and those it leaves
    to the standard one, side by side."""
    plain = record(
        1,
        input={"nul": "a\u0000b", "accents": "crédit 💳", "quote": '"\\', "n": [-1, 2**63 - 1]},
        explanation="crédit\u0000 💳",
        trace={"rules": [{"value": None, "text": "\n\t"}]},
    )
    huge = record(2, input={"n": 2**64}, output={"eligible": True, "big": -(2**70)})
    with open_log(log_backend.url) as log:
        append_all(log, [plain, huge])
        assert log.get(plain.decision_id) == plain
        assert log.get(huge.decision_id) == huge


def test_a_record_without_trace_or_explanation(log_backend: LogBackend) -> None:
    rec = record(1, explanation=None, trace=None)
    with open_log(log_backend.url) as log:
        append_all(log, [rec])
        assert log.get(rec.decision_id) == rec


def test_concurrent_appends_share_commits_and_all_are_durable(log_backend: LogBackend) -> None:
    threads, per_thread = 16, 25
    ids: list[str] = []
    ids_lock = threading.Lock()
    start = threading.Barrier(threads)
    with open_log(log_backend.url) as log:

        def client(t: int) -> None:
            start.wait()
            for i in range(per_thread):
                rec = record(t * 100 + i)
                log.append([rec]).result(timeout=30)  # like a request waiting for its commit
                with ids_lock:
                    ids.append(rec.decision_id)

        workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=60)
        assert len(ids) == threads * per_thread
        commits = log.commits  # type: ignore[attr-defined]
        assert commits < len(ids)  # several appends rode on one commit
        assert log.backlog() == 0
    with open_log(log_backend.url) as log:
        assert {r.decision_id for r in all_records(log)} == set(ids)


def test_appends_queued_without_waiting_are_grouped(log_backend: LogBackend) -> None:
    with open_log(log_backend.url) as log:
        futures = [log.append([record(i)]) for i in range(300)]
        for f in futures:
            f.result(timeout=30)
        assert log.commits <= 150  # type: ignore[attr-defined]
        assert len(all_records(log)) == 300


def test_close_commits_what_is_queued(log_backend: LogBackend) -> None:
    log = open_log(log_backend.url)
    futures = [log.append([record(i), record(i + 1000)]) for i in range(200)]
    log.close()
    assert all(f.done() and f.exception() is None for f in futures)
    late = log.append([record(5)])
    with pytest.raises(LogUnavailableError, match="closed"):
        late.result(timeout=5)
    with open_log(log_backend.url) as again:
        assert len(all_records(again)) == 400


def test_a_taken_decision_id_fails_only_its_own_append(log_backend: LogBackend) -> None:
    first = record(1)
    with open_log(log_backend.url) as log:
        append_all(log, [first])
        others = [record(i) for i in range(2, 50)]
        futures: list[Future[None]] = []
        for i, rec in enumerate(others):
            futures.append(log.append([rec]))
            if i == 20:
                duplicate = log.append([record(99, decision_id=first.decision_id)])
        with pytest.raises(LogUnavailableError):
            duplicate.result(timeout=30)
        for f in futures:
            f.result(timeout=30)
        assert log.healthy()
        assert len(all_records(log)) == 49
        assert log.get(first.decision_id) == first  # the original is untouched


def test_a_record_that_is_not_json_fails_its_append_alone(log_backend: LogBackend) -> None:
    with open_log(log_backend.url) as log:
        bad = log.append([record(1, input={"x": {1, 2}})])  # a set has no JSON form
        with pytest.raises(LogUnavailableError, match="cannot be logged"):
            bad.result(timeout=5)
        append_all(log, [record(2)])
        assert log.healthy() and len(all_records(log)) == 1


def test_an_empty_append_is_done_at_once(log_backend: LogBackend) -> None:
    with open_log(log_backend.url) as log:
        assert log.append([]).result(timeout=1) is None


# ---- queries -------------------------------------------------------------------------------


def _history(log: DecisionLog) -> list[DecisionRecord]:
    base = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    recs = []
    for i in range(60):
        policy = "promotions/click-credit" if i % 3 else "budgets/portfolio-cap"
        recs.append(record(i, at=base + dt.timedelta(hours=i), policy=policy))
    # two decisions at the very same microsecond: the id breaks the tie, and paging keeps both
    recs.append(record(100, at=base + dt.timedelta(hours=10)))
    append_all(log, recs[::2])
    append_all(log, recs[1::2])
    return sorted(recs, key=lambda r: (r.time, r.decision_id))


def test_query_filters_and_orders(log_backend: LogBackend) -> None:
    base = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    with open_log(log_backend.url) as log:
        recs = _history(log)
        assert all_records(log) == recs
        got = all_records(log, policy="budgets/portfolio-cap")
        assert got == [r for r in recs if r.policy == "budgets/portfolio-cap"] and got
        since, until = base + dt.timedelta(hours=10), base + dt.timedelta(hours=20)
        got = all_records(log, since=since, until=until)
        assert got == [r for r in recs if since <= r.time < until]
        assert len(got) == 11  # since is inclusive (two at hour 10), until exclusive
        got = all_records(log, outcome="eligible=false")
        assert got == [r for r in recs if r.outcome == "eligible=false"] and got
        # an offset other than UTC means the same instant
        east = dt.timezone(dt.timedelta(hours=5))
        assert all_records(log, since=since.astimezone(east), until=until.astimezone(east)) == [
            r for r in recs if since <= r.time < until
        ]


def test_paging_visits_every_record_once(log_backend: LogBackend) -> None:
    with open_log(log_backend.url) as log:
        recs = _history(log)
        seen: list[DecisionRecord] = []
        after = None
        pages = 0
        while True:
            page, after = log.query(limit=7, after=after)
            pages += 1
            assert len(page) <= 7
            seen.extend(page)
            if after is None:
                break
        assert seen == recs
        assert pages == -(-len(recs) // 7)
        page, after = log.query(limit=len(recs))
        assert page == recs and after is None


def test_shadow_records_are_apart_from_live_ones(log_backend: LogBackend) -> None:
    live = record(1)
    shadow = record(1, kind="shadow", shadow_of=live.decision_id, version="1.1.0")
    with open_log(log_backend.url) as log:
        append_all(log, [live, shadow])
        assert all_records(log) == [live]
        assert all_records(log, kind="shadow") == [shadow]
        assert len(all_records(log, kind=None)) == 2
        assert log.get(shadow.decision_id) == shadow


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"after": "not-a-cursor"}, "not a cursor"),
        ({"since": dt.datetime(2026, 1, 1)}, "timezone-aware"),
        ({"limit": 0}, "limit"),
        ({"kind": "other"}, "kind"),
    ],
)
def test_bad_query_arguments_are_value_errors(
    log_backend: LogBackend, filters: dict[str, Any], message: str
) -> None:
    with open_log(log_backend.url) as log, pytest.raises(ValueError, match=message):
        log.query(**filters)


# ---- retention -----------------------------------------------------------------------------


def test_prune_deletes_only_older_records(log_backend: LogBackend) -> None:
    with open_log(log_backend.url) as log:
        old = [record(i, at=NOW - dt.timedelta(days=40, minutes=i)) for i in range(5)]
        new = [record(i, at=NOW - dt.timedelta(days=3)) for i in range(3)]
        append_all(log, old + new)
        assert log.prune(NOW - dt.timedelta(days=30)) == 5
        assert {r.decision_id for r in all_records(log)} == {r.decision_id for r in new}
        assert log.prune(NOW - dt.timedelta(days=30)) == 0


def test_prune_deletes_in_slices(log_backend: LogBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    from clausewise.log.base import GroupCommitLog

    monkeypatch.setattr(GroupCommitLog, "prune_slice", 7)
    with open_log(log_backend.url) as log:
        old = [record(i, at=NOW - dt.timedelta(days=40, minutes=i)) for i in range(30)]
        old_shadows = [record(i, at=NOW - dt.timedelta(days=35), kind="shadow") for i in range(5)]
        new = [record(i) for i in range(3)]
        append_all(log, old + old_shadows + new)
        assert log.prune(NOW - dt.timedelta(days=30)) == 35
        assert all_records(log, kind=None) == new


def test_retention_deletes_in_slices(
    log_backend: LogBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clausewise.log.base import GroupCommitLog

    monkeypatch.setattr(GroupCommitLog, "prune_slice", 4)
    old = [record(i, at=NOW - dt.timedelta(days=10)) for i in range(23)]
    fresh = [record(i) for i in range(4)]
    with open_log(log_backend.url) as log:
        append_all(log, old + fresh)
    with open_log(
        log_backend.url, retention=dt.timedelta(days=7), prune_every=dt.timedelta(hours=1)
    ) as log:  # due at start, then only in an hour: the slices follow one another at once
        assert wait_until(lambda: len(all_records(log)) == 4)
        assert all_records(log) == fresh


def test_retention_is_applied_by_the_writer(log_backend: LogBackend) -> None:
    old = [record(i, at=NOW - dt.timedelta(days=10)) for i in range(4)]
    fresh = [record(i) for i in range(4)]
    with open_log(
        log_backend.url, retention=dt.timedelta(days=7), prune_every=dt.timedelta(seconds=0.2)
    ) as log:
        append_all(log, old + fresh)
        assert wait_until(lambda: len(all_records(log)) == 4)
        assert {r.decision_id for r in all_records(log)} == {r.decision_id for r in fresh}


# ---- schema migrations ---------------------------------------------------------------------


def test_a_log_written_with_the_first_schema_is_upgraded(log_backend: LogBackend) -> None:
    old_id = str(uuid.uuid4())
    log_backend.create_first_schema_with_one_record(old_id)
    with open_log(log_backend.url) as log:
        got = log.get(old_id)
        assert got is not None
        assert got.kind == "live" and got.shadow_of is None
        assert got.input == {"n": 1} and got.output == {"eligible": True}
        assert got.explanation == "written by the first schema"
        live = record(2)
        shadow = record(2, kind="shadow", shadow_of=live.decision_id)
        append_all(log, [live, shadow])
        assert all_records(log, kind="shadow") == [shadow]
    assert log_backend.schema_version() == log_backend.newest_schema


def test_a_log_from_a_newer_release_is_refused(log_backend: LogBackend) -> None:
    open_log(log_backend.url).close()
    log_backend.set_schema_version(log_backend.newest_schema + 1)
    with pytest.raises(ValueError, match="newer"):
        open_log(log_backend.url)


def test_several_logs_open_a_new_store_at_once(log_backend: LogBackend) -> None:
    """Migrations run once even when several servers start together (they serialise)."""
    logs: list[DecisionLog] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def opener() -> None:
        start.wait()
        try:
            logs.append(open_log(log_backend.url))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors
        for i, log in enumerate(logs):
            append_all(log, [record(i)])
        assert len(all_records(logs[0])) == 4
    finally:
        for log in logs:
            log.close()
    assert log_backend.schema_version() == log_backend.newest_schema


_WRITER = """
import datetime as dt, sys
from clausewise.log import DecisionRecord, new_decision_id, open_log
url, n = sys.argv[1], int(sys.argv[2])
with open_log(url) as log:
    futures = []
    for i in range(n):
        rec = DecisionRecord(new_decision_id(), dt.datetime.now(dt.UTC), "p", "1", "sha256:r",
                             {"i": i}, {"ok": True}, "ok=true", None, None)
        futures.append(log.append([rec]))
        print(rec.decision_id)
    for f in futures:
        f.result(timeout=60)
"""


def test_several_processes_write_one_log(log_backend: LogBackend) -> None:
    """Servers sharing one log: every record of every process is there, ids never collide."""
    open_log(log_backend.url).close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, log_backend.url, "150"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    ids: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids.extend(out.split())
    assert len(ids) == len(set(ids)) == 450
    with open_log(log_backend.url) as log:
        assert {r.decision_id for r in all_records(log)} == set(ids)


# ---- decision ids --------------------------------------------------------------------------


def test_decision_ids_are_uuid7_in_the_order_they_are_made() -> None:
    ids = [new_decision_id() for _ in range(20_000)]  # many share a millisecond
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    ms = parsed[-1].int >> 80
    assert abs(ms / 1000 - time.time()) < 60  # the leading 48 bits are Unix milliseconds


def test_a_forked_process_draws_other_random_bits_than_its_parent() -> None:
    new_decision_id()  # the parent holds unused random bytes when it forks
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write_end, "".join(new_decision_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as fh:
        child = fh.read()
    child_ids = [child[i : i + 36] for i in range(0, len(child), 36)]
    parent_ids = [new_decision_id() for _ in range(50)]
    tails = {i[-12:] for i in child_ids} & {i[-12:] for i in parent_ids}
    assert len(child_ids) == 50 and not tails


# ---- when the store fails ------------------------------------------------------------------


def test_a_revisions_files_are_kept_once_and_read_back(log_backend: LogBackend) -> None:
    files = {
        "promotions/click/1.0.0.cw": 'policy "promotions/click"\n# crédit \u0000 💳\n',
        "promotions/click/input.schema.json": '{"type": "object"}',
    }
    revision = "sha256:" + "cd" * 16
    with open_log(log_backend.url) as log:
        assert log.revision_files(revision) is None
        log.save_revision(revision, "policies", files)
        # the same revision again (a restart on the same files) keeps the first copy
        log.save_revision(revision, "elsewhere", {"other.cw": "x"})
        assert log.revision_files(revision) == ("policies", files)
    # durable: another process opening the log reads them
    with open_log(log_backend.url) as log:
        assert log.revision_files(revision) == ("policies", files)
        assert log.revision_files("sha256:" + "00" * 16) is None


def test_a_revision_cannot_be_kept_while_the_store_is_down(log_backend: LogBackend) -> None:
    with open_log(log_backend.url, probe_every=0.3) as log:
        with log_backend.outage(), pytest.raises(LogUnavailableError, match="cannot keep"):
            log.save_revision("sha256:" + "ef" * 16, "policies", {"a.cw": "x"})
        assert wait_until(log.healthy, timeout=30)
        log.save_revision("sha256:" + "ef" * 16, "policies", {"a.cw": "x"})
        assert log.revision_files("sha256:" + "ef" * 16) == ("policies", {"a.cw": "x"})


def test_an_unavailable_store_fails_appends_and_recovers(log_backend: LogBackend) -> None:
    with open_log(log_backend.url, probe_every=0.3) as log:
        acknowledged = record(1)
        append_all(log, [acknowledged])
        assert log.healthy()
        refused = [record(i) for i in range(10, 20)]
        with log_backend.outage():
            futures = [log.append([r]) for r in refused]
            for f in futures:
                with pytest.raises(LogUnavailableError, match="cannot be written"):
                    f.result(timeout=60)
            assert not log.healthy()
            if log_backend.kind == "postgresql":  # a SQLite file stays readable
                with pytest.raises(LogUnavailableError, match="cannot be read"):
                    log.get(acknowledged.decision_id)
        assert wait_until(log.healthy, timeout=30)  # without traffic: the writer probes
        after = record(2)
        append_all(log, [after])
        got = {r.decision_id for r in all_records(log)}
    assert got == {acknowledged.decision_id, after.decision_id}  # nothing refused was kept


def test_an_outage_without_traffic_turns_the_log_unhealthy(log_backend: LogBackend) -> None:
    with open_log(log_backend.url, probe_every=0.2) as log:
        append_all(log, [record(1)])
        with log_backend.outage():
            assert wait_until(lambda: not log.healthy(), timeout=30)
        assert wait_until(log.healthy, timeout=30)


def test_a_commit_that_hangs_turns_the_log_unhealthy_until_it_completes(
    log_backend: LogBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clausewise.log.base import GroupCommitLog

    monkeypatch.setattr(GroupCommitLog, "stalled_after", 0.3)
    with open_log(log_backend.url) as log:
        append_all(log, [record(1)])
        waiting = record(2)
        with log_backend.write_lock_held():
            future = log.append([waiting])
            assert wait_until(lambda: not log.healthy(), timeout=5)
            assert not future.done()  # not acknowledged while it is not committed
        future.result(timeout=30)  # the lock is gone: the commit goes through
        assert log.healthy()
        assert log.get(waiting.decision_id) == waiting


# ---- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["mysql://x", "sqlite://", "sqlite:///", "decisions.db", "sqlite:///x.db?mode=ro"]
)
def test_a_bad_url_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        open_log(url)


def test_the_off_log_keeps_no_revision() -> None:
    with open_log("off") as log:
        log.save_revision("sha256:" + "ab" * 16, "policies", {"a.cw": "x"})
        assert log.revision_files("sha256:" + "ab" * 16) is None


def test_the_off_log_records_nothing_and_is_healthy() -> None:
    for url in (None, "off"):
        with open_log(url) as log:
            assert log.append([record(1)]).result(timeout=1) is None
            assert log.query() == ([], None)
            assert log.get(new_decision_id()) is None
            assert log.healthy() and log.backlog() == 0
            with pytest.raises(ValueError):
                log.query(after="nonsense")


def test_a_relative_sqlite_url_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with open_log("sqlite:///logs/decisions.db") as log:
        append_all(log, [record(1)])
    assert (tmp_path / "logs" / "decisions.db").is_file()
    with open_log(f"sqlite:///{tmp_path}/logs/decisions.db") as log:  # four slashes: absolute
        assert len(all_records(log)) == 1


def test_a_sqlite_log_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="file"):
        open_log(f"sqlite:///{tmp_path}/file/decisions.db")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ValueError, match=r"garbage\.db"):
        open_log(f"sqlite:///{garbage}")
    with pytest.raises(ValueError, match="no decision log"):
        open_log(f"sqlite:///{tmp_path}/missing.db", create=False)
