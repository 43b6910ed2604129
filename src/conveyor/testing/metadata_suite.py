"""Behaviour every metadata store backend must show (SQLite, PostgreSQL, …).

Each check is a plain function taking ``make_store``: a factory returning a
new :class:`~conveyor.stores.MetadataStore` on the *same*, initially empty
database every time it is called within one check. The caller owns the stores
(closes them afterwards) and gives every check a fresh database::

    @pytest.mark.parametrize("check", METADATA_CHECKS, ids=lambda c: c.__name__)
    def test_sqlite(check, tmp_path):
        stores = []
        def make():
            stores.append(MetadataStore(f"sqlite:///{tmp_path}/c.db"))
            return stores[-1]
        check(make)

Checks use plain ``assert`` and raise ``AssertionError`` with a message.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC

import sqlalchemy as sa

from conveyor.errors import NotFound, StoreError
from conveyor.stores import (
    MetadataStore,
    register_reference_query,
    unregister_reference_query,
)

__all__ = [
    "METADATA_CHECKS",
    "MetadataCheck",
    "StoreFactory",
    "check_cache_lookup",
    "check_concurrent_record_artifact",
    "check_dataset_versions",
    "check_finish_run",
    "check_interrupted_runs",
    "check_not_found",
    "check_open_twice",
    "check_referenced_digests",
    "check_run_prefix_lookup",
    "check_runs_create_get_list",
    "check_steps_and_lineage",
    "check_transactions",
    "expect_error",
]

StoreFactory = Callable[[], MetadataStore]
MetadataCheck = Callable[[StoreFactory], None]


def _digest(label: str) -> str:
    """A valid, distinct sha256-shaped digest per label."""
    import hashlib

    return hashlib.sha256(label.encode()).hexdigest()


@contextmanager
def expect_error(kind: type[BaseException], match: str = "") -> Iterator[None]:
    """Assert the block raises ``kind`` with a message matching the regex ``match``."""
    try:
        yield
    except kind as exc:
        if match and not re.search(match, str(exc)):
            raise AssertionError(f"{kind.__name__} raised, but {str(exc)!r} !~ {match!r}") from exc
        return
    raise AssertionError(f"expected {kind.__name__} matching {match!r}; nothing was raised")


def _new_run(store: MetadataStore, project: str = "churn", **kwargs: object) -> str:
    defaults: dict[str, object] = {"config": {"task": "binary"}, "config_fingerprint": "cfg"}
    defaults.update(kwargs)
    return store.create_run(project, **defaults)  # type: ignore[arg-type]


def check_open_twice(make_store: StoreFactory) -> None:
    """A second open of a migrated store migrates nothing and sees the same data."""
    first = make_store()
    assert first.dialect in ("sqlite", "postgresql"), first.dialect
    run_id = _new_run(first)
    second = make_store()
    assert second.migrated is False, "re-opening a store at head must not migrate"
    assert second.get_run(run_id).id == run_id
    assert second.url == first.url and second.dialect == first.dialect


def check_runs_create_get_list(make_store: StoreFactory) -> None:
    store = make_store()
    config = {"task": "binary", "models": [{"name": "lr", "params": {"C": 0.5}}]}
    first = _new_run(store, config=config, code_version="0.1.0", command="conveyor run", pid=42)
    second = _new_run(store, kind="tune", host="box")
    other = _new_run(store, "fraud")
    for run_id in (first, second, other):
        assert re.fullmatch(r"[0-9a-f]{12}", run_id), run_id
    record = store.get_run(first)
    assert record.project == "churn" and record.kind == "run" and record.status == "running"
    assert record.config == config, record.config
    assert record.config_fingerprint == "cfg" and record.code_version == "0.1.0"
    assert record.command == "conveyor run" and record.pid == 42 and record.host is None
    assert record.started_at.tzinfo is not None
    assert record.started_at.utcoffset() == UTC.utcoffset(None)
    assert record.finished_at is None and record.duration_s is None and record.summary == {}
    assert [r.id for r in store.list_runs()] == [other, second, first], "newest first"
    assert [r.id for r in store.list_runs(project="churn")] == [second, first]
    assert [r.id for r in store.list_runs(project="nope")] == []
    assert [r.id for r in store.list_runs(limit=1, offset=1)] == [second]
    child = _new_run(store, parent_run_id=first)
    assert store.get_run(child).parent_run_id == first
    with expect_error(NotFound, "parent run"):
        _new_run(store, parent_run_id="0" * 12)
    assert store.ensure_project("churn") == store.ensure_project("churn")


def check_finish_run(make_store: StoreFactory) -> None:
    store = make_store()
    ok, bad = _new_run(store), _new_run(store)
    store.finish_run(ok, status="succeeded", summary={"metrics": {"roc_auc": 0.91}})
    store.finish_run(bad, status="failed", error="DataError: wa_churn.csv row 7")
    done = store.get_run(ok)
    assert done.status == "succeeded" and done.summary == {"metrics": {"roc_auc": 0.91}}
    assert done.finished_at is not None and done.finished_at >= done.started_at
    assert done.duration_s is not None and done.duration_s >= 0
    failed = store.get_run(bad)
    assert failed.status == "failed" and failed.error == "DataError: wa_churn.csv row 7"
    assert [r.id for r in store.list_runs(status="failed")] == [bad]
    with expect_error(ValueError, "status 'done'"):
        store.finish_run(ok, status="done")
    with expect_error(NotFound, "abcdefabcdef"):
        store.finish_run("abcdefabcdef", status="failed")


def check_run_prefix_lookup(make_store: StoreFactory) -> None:
    store = make_store()
    ids = [_new_run(store) for _ in range(17)]  # 17 ids over 16 first characters must collide
    target = ids[0]
    assert store.get_run(target).id == target
    assert store.get_run(target.upper()).id == target
    unique = next(
        target[:n] for n in range(1, 13) if sum(i.startswith(target[:n]) for i in ids) == 1
    )
    assert store.get_run(unique).id == target
    first_chars = [i[0] for i in ids]
    shared = next(c for c in first_chars if first_chars.count(c) > 1)
    clashing = [i for i in ids if i.startswith(shared)]
    with expect_error(NotFound, "ambiguous"):
        store.get_run(shared)
    try:
        store.get_run(shared)
    except NotFound as exc:
        assert all(i in str(exc) for i in clashing[:10]), f"candidates not listed: {exc}"


def check_not_found(make_store: StoreFactory) -> None:
    store = make_store()
    with expect_error(NotFound, "'0123456789ab' not found"):
        store.get_run("0123456789ab")
    with expect_error(NotFound, "12 hex"):
        store.get_run("../etc; DROP TABLE runs")
    with expect_error(NotFound, "does not exist"):
        store.list_steps("0123456789ab")
    with expect_error(NotFound, "does not exist"):
        store.start_step("0123456789ab", "collect", fingerprint="f", position=0)
    with expect_error(NotFound, "step 999999"):
        store.finish_step(999999, status="succeeded")
    with expect_error(NotFound, "'v9' not found"):
        store.get_dataset_version("v9")
    with expect_error(NotFound, "expected a version number"):
        store.get_dataset_version("not a ref")
    assert store.find_cached_step("nothing") is None
    assert store.get_artifact(_digest("nothing")) is None


def check_steps_and_lineage(make_store: StoreFactory) -> None:
    store = make_store()
    run_id = _new_run(store)
    raw, clean, model = _digest("raw"), _digest("clean"), _digest("model")
    second = store.start_step(run_id, "clean", fingerprint="f-clean", position=1)
    first = store.start_step(run_id, "collect", fingerprint="f-collect", position=0)
    store.finish_step(first, status="succeeded", outputs={"dataset": raw}, rows_out=100)
    store.finish_step(
        second,
        status="succeeded",
        inputs={"dataset": raw},
        outputs={"dataset": clean, "report": model},
        rows_in=100,
        rows_out=97,
        duration_s=1.5,
        metrics={"dropped": 3},
        notes=["3 duplicates dropped"],
        warnings=["column 'age' has 2% missing"],
    )
    steps = store.list_steps(run_id)
    assert [s.name for s in steps] == ["collect", "clean"], "ordered by position"
    collect, cleaned = steps
    assert collect.outputs == {"dataset": raw} and collect.inputs == {}
    assert collect.rows_out == 100 and collect.cached is False and collect.status == "succeeded"
    assert cleaned.inputs == {"dataset": raw}
    assert cleaned.outputs == {"dataset": clean, "report": model}
    assert (cleaned.rows_in, cleaned.rows_out, cleaned.duration_s) == (100, 97, 1.5)
    assert cleaned.metrics == {"dropped": 3} and cleaned.notes == ["3 duplicates dropped"]
    assert cleaned.warnings == ["column 'age' has 2% missing"]
    assert cleaned.finished_at is not None and cleaned.finished_at.tzinfo is not None
    assert {raw, clean, model} <= store.referenced_digests()
    # Finishing again replaces the recorded lineage instead of merging it.
    store.finish_step(second, status="failed", inputs={"dataset": raw}, error="boom")
    again = store.list_steps(run_id)[1]
    assert again.status == "failed" and again.outputs == {} and again.error == "boom"
    with expect_error(StoreError, "not an artifact digest"):
        store.finish_step(first, status="succeeded", outputs={"dataset": "../../etc/passwd"})
    with expect_error(ValueError, "step status"):
        store.finish_step(first, status="exploded")


def check_cache_lookup(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.find_cached_step("fp") is None
    old_run, failed_run, new_run = _new_run(store), _new_run(store), _new_run(store)
    old = store.start_step(old_run, "train", fingerprint="fp", position=0)
    store.finish_step(old, status="succeeded", outputs={"model": _digest("m1")})
    failed = store.start_step(failed_run, "train", fingerprint="fp", position=0)
    store.finish_step(failed, status="failed", error="boom")
    other = store.start_step(new_run, "train", fingerprint="other", position=0)
    store.finish_step(other, status="succeeded", outputs={"model": _digest("x")})
    hit = store.find_cached_step("fp")
    assert hit is not None and hit.id == old and hit.outputs == {"model": _digest("m1")}
    newer = store.start_step(new_run, "train", fingerprint="fp", position=1)
    store.finish_step(newer, status="succeeded", cached=True, outputs={"model": _digest("m1")})
    hit = store.find_cached_step("fp")
    assert hit is not None and hit.id == newer and hit.cached is True, "newest success wins"
    running = store.start_step(new_run, "train", fingerprint="fp2", position=2)
    assert store.find_cached_step("fp2") is None, f"running step {running} must not be a hit"


def check_dataset_versions(make_store: StoreFactory) -> None:
    store = make_store()
    run_id = _new_run(store)
    first_digest, second_digest = _digest("d1"), _digest("d2")
    schema = {"columns": {"tenure": "Int64", "Churn": "String"}}
    source = {"kind": "csv", "path": "data/wa_churn.csv"}
    v1, created = store.record_dataset_version(
        "churn", digest=first_digest, rows=7043, columns=21, schema=schema, source=source,
        run_id=run_id,
    )  # fmt: skip
    assert created and v1.version == 1 and v1.project == "churn" and v1.run_id == run_id
    assert (v1.rows, v1.columns, v1.schema, v1.source) == (7043, 21, schema, source)
    again, created = store.record_dataset_version(
        "churn", digest=first_digest, rows=1, columns=1, schema={}, source={}, run_id=None
    )
    assert not created and again == v1, "same digest in the same project is the same version"
    v2, created = store.record_dataset_version(
        "churn", digest=second_digest, rows=10, columns=2, schema={}, source={}, run_id=None
    )
    assert created and v2.version == 2
    other, created = store.record_dataset_version(
        "fraud", digest=first_digest, rows=1, columns=1, schema={}, source={}, run_id=None
    )
    assert created and other.version == 1, "numbering is per project"
    assert store.get_dataset_version("2", project="churn") == v2
    assert store.get_dataset_version("v2") == v2, "only churn has a v2"
    assert store.get_dataset_version(second_digest[:8]) == v2
    assert store.get_dataset_version("latest", project="churn") == v2
    assert store.get_dataset_version("V1", project="fraud") == other
    with expect_error(NotFound, "ambiguous"):
        store.get_dataset_version("v1")
    with expect_error(NotFound, "ambiguous"):
        store.get_dataset_version(first_digest[:10])
    assert [v.version for v in store.list_dataset_versions("churn")] == [2, 1]
    assert [v.id for v in store.list_dataset_versions()] == [other.id, v2.id, v1.id]
    assert [v.version for v in store.list_dataset_versions("churn", limit=1, offset=1)] == [1]
    assert {first_digest, second_digest} <= store.referenced_digests()
    with expect_error(StoreError, "not an artifact digest"):
        store.record_dataset_version(
            "churn", digest="xyz", rows=1, columns=1, schema={}, source={}, run_id=None
        )
    with expect_error(NotFound, "no such run"):
        store.record_dataset_version(
            "churn", digest=_digest("d3"), rows=1, columns=1, schema={}, source={},
            run_id="0" * 12,
        )  # fmt: skip


def check_concurrent_record_artifact(make_store: StoreFactory) -> None:
    """Many threads recording the same digests at once leave exactly one row each."""
    store = make_store()
    shared = [_digest(f"shared-{i}") for i in range(5)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        try:
            barrier.wait()
            for digest in shared:
                store.record_artifact(digest, kind="frame", size=10, media_type="application/x")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with store.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM artifacts")).scalar_one()
    assert count == len(shared), count
    record = store.get_artifact(shared[0])
    assert record is not None and record.kind == "frame" and record.size == 10
    assert record.media_type == "application/x" and record.created_at.tzinfo is not None
    store.record_artifact(shared[0], kind="other", size=99)
    again = store.get_artifact(shared[0])
    assert again is not None and again.kind == "frame", "first record wins"
    assert store.forget_artifacts([shared[0], _digest("never")]) == 1
    assert store.get_artifact(shared[0]) is None
    with expect_error(StoreError, "not an artifact digest"):
        store.record_artifact("ABC", kind="frame", size=1)


def check_interrupted_runs(make_store: StoreFactory) -> None:
    store = make_store()
    dead = _new_run(store, pid=111, host="box")
    alive = _new_run(store, pid=222, host="box")
    no_pid = _new_run(store, host="box")
    elsewhere = _new_run(store, pid=111, host="other")
    finished = _new_run(store, pid=111, host="box")
    store.finish_run(finished, status="succeeded")
    step = store.start_step(dead, "train", fingerprint="f", position=0)
    asked: list[int] = []

    def is_alive(pid: int) -> bool:
        asked.append(pid)
        return pid == 222

    assert store.mark_interrupted_runs(host="box", is_alive=is_alive) == [dead]
    assert sorted(asked) == [111, 222]
    record = store.get_run(dead)
    assert record.status == "interrupted" and record.finished_at is not None
    assert record.error == "process 111 ended without finishing the run", record.error
    assert store.list_steps(dead)[0].status == "interrupted", f"step {step} left running"
    for run_id in (alive, no_pid, elsewhere):
        assert store.get_run(run_id).status == "running"
    assert store.get_run(finished).status == "succeeded"
    assert store.mark_interrupted_runs(host="box", is_alive=is_alive) == []


def check_referenced_digests(make_store: StoreFactory) -> None:
    """Columns named ``*_digest`` and registered queries count as references."""
    store = make_store()
    table = f"extra_{uuid.uuid4().hex[:8]}"
    bundle, registered = _digest("bundle"), _digest("registered")
    with store.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (id INTEGER, bundle_digest VARCHAR(64))"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1, :d), (2, NULL)"), {"d": bundle})
    name = f"suite.{table}"
    register_reference_query(name, f"SELECT '{registered}' FROM {table} WHERE id = 1")
    try:
        found = store.referenced_digests()
        assert bundle in found and registered in found, found
        assert None not in found
        register_reference_query(name, "SELECT digest FROM no_such_table")
        with expect_error(StoreError, name):
            store.referenced_digests()
    finally:
        unregister_reference_query(name)
        with store.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))


def check_transactions(make_store: StoreFactory) -> None:
    """``begin`` commits or rolls back as a whole; ``transaction`` and ``session`` commit."""
    store = make_store()

    class Boom(Exception):
        pass

    try:
        with store.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO projects (name, created_at) VALUES ('ghost', :t)"),
                {"t": "2026-01-01 00:00:00"},
            )
            raise Boom
    except Boom:
        pass
    assert store.list_runs(project="ghost") == []
    with store.connect() as conn:
        ghosts = conn.execute(sa.text("SELECT COUNT(*) FROM projects WHERE name = 'ghost'"))
        assert ghosts.scalar_one() == 0, "rolled back"
    inserted = store.transaction(
        lambda conn: (
            conn.execute(
                sa.text("INSERT INTO projects (name, created_at) VALUES ('kept', :t)"),
                {"t": "2026-01-01 00:00:00"},
            ).rowcount
        )
    )
    assert inserted == 1
    project_id = store.ensure_project("kept")
    assert store.retrying(lambda: store.ensure_project("kept")) == project_id
    with store.session() as session:
        names = session.execute(sa.text("SELECT name FROM projects")).scalars().all()
    assert "kept" in names
    with expect_error(StoreError, "metadata store"):
        store.transaction(lambda conn: conn.execute(sa.text("SELECT * FROM no_such_table")))


METADATA_CHECKS: list[MetadataCheck] = [
    check_open_twice,
    check_runs_create_get_list,
    check_finish_run,
    check_run_prefix_lookup,
    check_not_found,
    check_steps_and_lineage,
    check_cache_lookup,
    check_dataset_versions,
    check_concurrent_record_artifact,
    check_interrupted_runs,
    check_referenced_digests,
    check_transactions,
]
"""Every metadata-store check, for ``pytest.mark.parametrize``."""
