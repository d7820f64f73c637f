"""The per-user cache behind a fast cold start (parser tables, parsed files, checked schemas):
used when it can be, never trusted when stale, never needed."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clausewise.dsl import cache as _cache
from clausewise.dsl.parser import parse_file
from clausewise.engine.store import PolicyStore

ROOT = Path(__file__).resolve().parent.parent
POLICY = """\
policy "shop/fees"
version "1.0.0"
title "Fees"
source "F1"
input schema "input.schema.json"
output schema "output.schema.json"

output {
  fee: input.amount * 2,
}
"""
SCHEMA_IN = {
    "type": "object",
    "properties": {"amount": {"type": "integer"}},
    "required": ["amount"],
}
SCHEMA_OUT = {"type": "object", "properties": {"fee": {"type": "integer"}}, "required": ["fee"]}


@pytest.fixture
def use_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    def set_dir(value: str) -> None:
        monkeypatch.setenv(_cache.ENV, value)
        _cache.cache_dir.cache_clear()

    yield set_dir
    _cache.cache_dir.cache_clear()


def write_policy(root: Path) -> Path:
    folder = root / "shop" / "fees"
    folder.mkdir(parents=True)
    (folder / "input.schema.json").write_text(json.dumps(SCHEMA_IN))
    (folder / "output.schema.json").write_text(json.dumps(SCHEMA_OUT))
    path = folder / "1.0.0.cw"
    path.write_text(POLICY)
    return path


def rows(cache: Path, sql: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(cache / _cache._DB)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def decide(root: Path) -> object:
    from clausewise import Engine

    return Engine.from_directory(root).evaluate("shop/fees", {"amount": 3}).output


def test_a_fresh_cache_folder_is_filled_and_used(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    use_cache(str(cache))
    path = write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert rows(cache, "SELECT count(*) FROM trees") == [(1,)]
    assert rows(cache, "SELECT count(*) FROM valid_schemas") == [(2,)]
    assert _cache.load_tree(str(path), POLICY) is not None
    assert decide(tmp_path / "policies") == {"fee": 6}


def test_an_edited_file_is_parsed_again(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    use_cache(str(tmp_path / "cache"))
    path = write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    path.write_text(POLICY.replace("input.amount * 2", "input.amount * 5"))
    assert _cache.load_tree(str(path), path.read_text()) is None
    assert decide(tmp_path / "policies") == {"fee": 15}


def test_caching_off_or_impossible(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    write_policy(tmp_path / "policies")
    use_cache("off")
    assert _cache.cache_dir() is None
    assert decide(tmp_path / "policies") == {"fee": 6}
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    use_cache(str(blocker / "cache"))  # cannot be created
    assert _cache.cache_dir() is None
    assert decide(tmp_path / "policies") == {"fee": 6}


def test_corrupt_entries_are_ignored(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    use_cache(str(cache))
    path = write_policy(tmp_path / "policies")
    parse_file(path)
    for blob in (b"garbage", b""):
        con = sqlite3.connect(cache / _cache._DB)
        with con:
            con.execute("UPDATE trees SET tree = ?", (blob,))
        con.close()
        assert parse_file(path).header.id == "shop/fees"


def test_a_damaged_database_is_replaced(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / _cache._DB).write_bytes(b"this is not a database" * 100)
    use_cache(str(cache))
    path = write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert rows(cache, "SELECT count(*) FROM trees") == [(1,)]
    assert _cache.load_tree(str(path), POLICY) is not None


def test_many_files_keep_the_newest_entries(tmp_path: Path, use_cache, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    use_cache(str(cache))
    monkeypatch.setattr(_cache, "_MAX_TREES", 10)
    monkeypatch.setattr(_cache, "_pruned", False)
    tree = parse_file(write_policy(tmp_path / "policies"))
    for i in range(12):
        _cache.store_tree(str(tmp_path / f"f{i}.cw"), f"text {i}", tree)
    monkeypatch.setattr(_cache, "_pruned", False)
    _cache.store_tree(str(tmp_path / "last.cw"), "text", tree)
    assert rows(cache, "SELECT count(*) FROM trees")[0][0] <= 10
    assert _cache.load_tree(str(tmp_path / "last.cw"), "text") is not None


def test_processes_share_the_cache(tmp_path: Path) -> None:
    # several processes checking at once (as pre-commit runs hooks): all succeed, all is kept
    root = tmp_path / "policies"
    write_policy(root)
    cache = tmp_path / "cache"
    env = {**os.environ, _cache.ENV: str(cache), "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "clausewise.cli", "check", str(root)]
    procs = [
        subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert rows(cache, "SELECT count(*) FROM trees") == [(1,)]
    assert rows(cache, "SELECT count(*) FROM valid_schemas") == [(2,)]


def test_an_invalid_schema_is_still_reported(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    use_cache(str(tmp_path / "cache"))
    path = write_policy(tmp_path / "policies")
    (path.parent / "input.schema.json").write_text(json.dumps({"type": "strng"}))
    for _ in range(2):  # the second load must not take it from the cache
        store = PolicyStore.load(tmp_path / "policies", strict=False)
        assert [d.code for d in store.diagnostics if d.severity != "note"] == ["invalid-schema"]


def test_a_cache_that_cannot_be_written(tmp_path: Path, use_cache, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # as in a folder mounted read-only: every write fails, and nothing else does
    cache = tmp_path / "cache"
    use_cache(str(cache))
    write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}  # creates the database
    with sqlite3.connect(cache / _cache._DB) as con:
        con.execute("DELETE FROM trees")
        con.execute("DELETE FROM valid_schemas")

    def read_only(path: Path) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    monkeypatch.setattr(_cache, "_connect", read_only)
    monkeypatch.setattr(_cache, "_conn", None)
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert rows(cache, "SELECT count(*) FROM trees") == [(0,)]
    monkeypatch.undo()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anyway")
def test_a_new_process_with_a_read_only_cache_folder(tmp_path: Path) -> None:
    write_policy(tmp_path / "policies")
    cache = tmp_path / "cache"
    cache.mkdir()
    script = (
        "import clausewise;"
        f"e = clausewise.Engine.from_directory({str(tmp_path / 'policies')!r});"
        "print(e.evaluate('shop/fees', {'amount': 4}).output)"
    )
    cache.chmod(0o500)
    try:
        out = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, _cache.ENV: str(cache)},
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
    finally:
        cache.chmod(0o700)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "{'fee': 8}"
    assert out.stderr == ""


def test_the_folders_of_the_earlier_layout_are_tidied(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    for old in ("trees", "valid-schemas"):
        (cache / old).mkdir(parents=True)
        (cache / old / "entry").write_bytes(b"x")
    use_cache(str(cache))
    write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == []
    assert (cache / _cache._DB).exists()
