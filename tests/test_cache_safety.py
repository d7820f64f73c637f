"""Nothing read from the cache runs code, and a cache another user can write is not used.

The attacker is a real second user: a machine account made by the test (as root, with
`useradd`) writes a cache database full of pickle payloads that would create a marker file when
unpickled; `clausewise check` and the embedding API run as root beside it. Group- or
world-writable folders and database files are refused too, with exactly one warning.
"""

from __future__ import annotations

import json
import os
import pickle
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from clausewise.dsl import cache as _cache

ROOT = Path(__file__).resolve().parent.parent
PROBE_USER = "cw-cache-probe"
PID = "shop/fees"
POLICY = (
    f'policy "{PID}"\nversion "1.0.0"\ntitle "Fees"\nsource "F1"\n'
    'input schema "input.schema.json"\noutput schema "output.schema.json"\n'
    "output {\n  fee: input.amount * 2,\n}\n"
)
WARNING = "clausewise: warning: not using the cache"

is_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a second user needs root"
)


class _Payload:
    """Unpickling this runs `touch MARKER` (what an attacker's cache entry would do)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def payload(marker: Path) -> bytes:
    return pickle.dumps(_Payload(marker))


def write_policy(root: Path) -> Path:
    folder = root / PID
    folder.mkdir(parents=True)
    (folder / "input.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"amount": {"type": "integer"}},
                "required": ["amount"],
            }
        )
    )
    (folder / "output.schema.json").write_text(
        json.dumps(
            {"type": "object", "properties": {"fee": {"type": "integer"}}, "required": ["fee"]}
        )
    )
    path = folder / "1.0.0.cw"
    path.write_text(POLICY)
    return path


def poison(db: Path, policy: Path, marker: Path) -> None:
    """Fill a cache database (the earlier and the current layout) with payloads, under the keys
    the cache would look up for `policy`, so that a loader that unpickles would run them."""
    blob = payload(marker)
    key = _cache.digest(_cache._tree_fingerprint(), str(policy), POLICY)
    con = sqlite3.connect(db)
    with con:
        con.executescript(_cache._SCHEMA_SQL)
        con.execute(
            "INSERT OR REPLACE INTO trees VALUES (?, ?, ?, 0)", (str(policy.resolve()), key, blob)
        )
        con.execute("INSERT OR REPLACE INTO parser_tables VALUES (?, ?)", ("any", blob))
    con.close()


def check(root: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clausewise.cli", "check", *extra, str(root)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, _cache.ENV: str(cache), "NO_COLOR": "1"},
    )


def decide_in_new_process(
    root: Path, cache: Path, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """The embedding API in a new process: load `root`, decide once, print the output."""
    script = (
        f"{prelude}import clausewise;"
        f"e = clausewise.Engine.from_directory({str(root)!r});"
        f"print(e.evaluate({PID!r}, {{'amount': 4}}).output)"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, _cache.ENV: str(cache)},
    )


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(WARNING)]


@pytest.fixture
def probe_user() -> Iterator[pwd.struct_passwd]:
    """A machine account that is not the user running the tests."""
    made = False
    try:
        user = pwd.getpwnam(PROBE_USER)
    except KeyError:
        if shutil.which("useradd") is None:
            pytest.skip("no useradd")
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
            check=True,
            capture_output=True,
        )
        made = True
        user = pwd.getpwnam(PROBE_USER)
    try:
        yield user
    finally:
        if made:
            subprocess.run(["userdel", PROBE_USER], capture_output=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder the probe user can reach (pytest's own is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="cw-cache-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_payload_is_real(tmp_path: Path) -> None:
    # the control: unpickling the payload does create the marker
    marker = tmp_path / "ran"
    subprocess.run(
        [sys.executable, "-c", "import pickle,sys; pickle.loads(sys.stdin.buffer.read())"],
        input=payload(marker),
        check=True,
        timeout=60,
    )
    assert marker.exists()


def test_payloads_in_the_users_own_cache_never_run(tmp_path: Path) -> None:
    # even an entry under the right key in the user's own database is only data: the decoder
    # refuses it and the file is parsed again
    root = tmp_path / "policies"
    policy = write_policy(root)
    cache = tmp_path / "cache"
    marker = tmp_path / "ran"
    assert check(root, cache).returncode == 0  # creates the database
    poison(cache / _cache._DB, policy, marker)
    poison(cache / "cache.sqlite3", policy, marker)  # the earlier layout's file too
    proc = check(root, cache)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert warnings_in(proc.stderr) == []
    out = decide_in_new_process(root, cache)
    assert out.stdout.strip() == "{'fee': 8}", out.stderr
    assert not marker.exists()


@is_root
def test_a_cache_folder_written_by_another_user_is_not_used(
    probe_user: pwd.struct_passwd, shared_tmp: Path
) -> None:
    root = shared_tmp / "policies"
    policy = write_policy(root)
    cache = shared_tmp / "their-cache"
    marker = shared_tmp / "ran"
    cache.mkdir(mode=0o700)
    os.chown(cache, probe_user.pw_uid, probe_user.pw_gid)
    # the other user writes their database of payloads, as themselves
    writer = (
        "import sqlite3, sys; con = sqlite3.connect(sys.argv[1]); con.executescript(sys.argv[2]);"
        "con.execute('INSERT INTO trees VALUES (?, ?, ?, 0)', (sys.argv[3], sys.argv[4], "
        "bytes.fromhex(sys.argv[5]))); con.commit()"
    )
    key = _cache.digest(_cache._tree_fingerprint(), str(policy), POLICY)
    subprocess.run(
        [
            "runuser",
            "-u",
            PROBE_USER,
            "--",
            "/usr/bin/python3",
            "-c",
            writer,
            str(cache / _cache._DB),
            _cache._SCHEMA_SQL,
            str(policy.resolve()),
            key,
            payload(marker).hex(),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert (cache / _cache._DB).stat().st_uid == probe_user.pw_uid
    proc = check(root, cache)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    warned = warnings_in(proc.stderr)
    assert len(warned) == 1, proc.stderr
    assert f"belongs to another user (uid {probe_user.pw_uid})" in warned[0]


@is_root
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_database_file_of_another_user_in_the_users_folder_is_not_used(
    suffix: str, probe_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    root = tmp_path / "policies"
    policy = write_policy(root)
    cache = tmp_path / "cache"
    marker = tmp_path / "ran"
    assert check(root, cache).returncode == 0
    db = cache / _cache._DB
    poison(db, policy, marker)
    target = Path(f"{db}{suffix}")
    target.touch()
    os.chown(target, probe_user.pw_uid, probe_user.pw_gid)
    proc = check(root, cache)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    warned = warnings_in(proc.stderr)
    assert len(warned) == 1, proc.stderr
    assert f"{_cache._DB}{suffix}" in warned[0] and "another user" in warned[0]


@pytest.mark.parametrize(
    ("what", "mode"),
    [("folder", 0o777), ("folder", 0o770), ("database", 0o666), ("database", 0o620)],
)
def test_a_cache_others_can_write_is_refused_with_one_warning(
    what: str, mode: int, tmp_path: Path
) -> None:
    root = tmp_path / "policies"
    write_policy(root)
    cache = tmp_path / "cache"
    assert check(root, cache).returncode == 0
    target = cache if what == "folder" else cache / _cache._DB
    target.chmod(mode)
    # many files and worker processes: still one warning
    for i in range(30):
        (root / f"extra{i}").mkdir()
        (root / f"extra{i}" / "m.cw").write_text(f'module "extra{i}"\nlet x = {i}\n')
    proc = check(root, cache, "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    warned = warnings_in(proc.stderr)
    assert len(warned) == 1, proc.stderr
    assert f"writable by group or others (mode {mode:o})" in warned[0]
    # and nothing was written there
    con = sqlite3.connect(cache / _cache._DB)
    assert con.execute("SELECT count(*) FROM trees").fetchone() == (1,)
    con.close()


def test_a_database_is_created_private_whatever_the_umask(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    write_policy(root)
    cache = tmp_path / "cache"
    proc = decide_in_new_process(root, cache, "import os; os.umask(0);")
    assert proc.returncode == 0 and warnings_in(proc.stderr) == [], proc.stderr
    for f in cache.iterdir():
        if f.name.startswith(_cache._DB):
            assert f.stat().st_mode & 0o077 == 0, f"{f.name} is {f.stat().st_mode:o}"
    assert check(root, cache).stderr == ""


def test_parser_tables_are_data(tmp_path: Path) -> None:
    # the shipped tables are JSON: their loader never unpickles
    from clausewise.dsl import parser
    from clausewise.dsl.tablecodec import TablesDecodeError, decode_tables

    raw = parser.SHIPPED_TABLES.read_bytes()
    header, _, body = raw.partition(b"\n")
    assert json.loads(header)["format"] == "json-1"
    assert set(decode_tables(body)) == {"data", "memo"}
    with pytest.raises(TablesDecodeError):
        decode_tables(payload(tmp_path / "ran"))
    assert parser._parser_from_tables(payload(tmp_path / "ran")) is None
    assert not (tmp_path / "ran").exists()


def _spans(node: object, out: list[object]) -> list[object]:
    import dataclasses

    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        span = getattr(node, "span", None)
        if span is not None:
            path = span.source.path if span.source else None
            out.append(
                (
                    type(node).__name__,
                    span.line,
                    span.col,
                    span.end_line,
                    span.end_col,
                    span.start_pos,
                    span.end_pos,
                    path,
                )
            )
        for f in dataclasses.fields(node):
            _spans(getattr(node, f.name), out)
    elif isinstance(node, tuple):
        for x in node:
            _spans(x, out)
    return out


def test_every_shipped_and_example_policy_round_trips_through_the_tree_encoding() -> None:
    from clausewise.dsl.diagnostics import Source
    from clausewise.dsl.parser import parse
    from clausewise.dsl.treecodec import decode_tree, encode_tree

    files = sorted(
        p for d in ("policies", "bench/policies", "examples") for p in (ROOT / d).rglob("*.cw")
    )
    assert len(files) >= 5
    for f in files:
        text = f.read_text(encoding="utf-8")
        tree = parse(text, str(f))
        back = decode_tree(encode_tree(tree), Source(str(f), text))
        assert back == tree and repr(back) == repr(tree), f
        assert _spans(back, []) == _spans(tree, []), f


@pytest.mark.parametrize(
    "doc",
    [
        [1, ["os.system", None]],
        [1, ["Call", None, ["Name", None, "x"], "not a tuple"]],
        [1, ["Literal", None, ["pickle", "x"], "int"]],
        [1, ["Literal", None, {"__reduce__": 1}, "int"]],
        [1, ["Name", [1, 2, 3], "x"]],
        [1, ["Name", None, "x"]],  # a well-formed node, but not a policy file
        [1, ["PolicyFile", None, ["Name", None, "x"], [], []]],  # a header of the wrong class
        [2, ["PolicyFile", None]],  # another format version
    ],
)
def test_the_tree_decoder_builds_nothing_but_ast_nodes_and_literals(doc: object) -> None:
    from clausewise.dsl.diagnostics import Source
    from clausewise.dsl.treecodec import TreeDecodeError, decode_tree

    with pytest.raises(TreeDecodeError):
        decode_tree(json.dumps(doc).encode(), Source("x.cw", ""))
