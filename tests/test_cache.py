"""The per-user cache behind a fast cold start (parser tables, parsed files, checked schemas):
used when it can be, never trusted when stale, never needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clausewise import _cache
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


def decide(root: Path) -> object:
    from clausewise import Engine

    return Engine.from_directory(root).evaluate("shop/fees", {"amount": 3}).output


def test_a_fresh_cache_folder_is_filled_and_used(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    use_cache(str(cache))
    path = write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert len(list((cache / "trees").iterdir())) == 1
    assert len(list((cache / "valid-schemas").iterdir())) == 2
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
    [entry] = (cache / "trees").iterdir()
    entry.write_bytes(entry.read_bytes()[:40])
    assert parse_file(path).header.id == "shop/fees"
    entry.write_bytes(b"garbage")
    assert parse_file(path).header.id == "shop/fees"


def test_an_invalid_schema_is_still_reported(tmp_path: Path, use_cache) -> None:  # type: ignore[no-untyped-def]
    use_cache(str(tmp_path / "cache"))
    path = write_policy(tmp_path / "policies")
    (path.parent / "input.schema.json").write_text(json.dumps({"type": "strng"}))
    for _ in range(2):  # the second load must not take it from the cache
        store = PolicyStore.load(tmp_path / "policies", strict=False)
        assert [d.code for d in store.diagnostics] == ["invalid-schema"]


def test_a_cache_that_cannot_be_written(tmp_path: Path, use_cache, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # as in a folder mounted read-only: every write fails, and nothing else does
    import tempfile

    use_cache(str(tmp_path / "cache"))

    def refuse(*args: object, **kw: object) -> None:
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(Path, "touch", refuse)
    write_policy(tmp_path / "policies")
    assert decide(tmp_path / "policies") == {"fee": 6}
    assert not list((tmp_path / "cache").rglob("*.pickle"))


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
