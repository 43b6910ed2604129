from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import conveyor
from conveyor.errors import ModelError, NotFound
from conveyor.registry import ModelVersion, Registry
from conveyor.stores import MetadataStore

BUNDLE = "a" * 64
MANIFEST = "b" * 64


def reg(registry: Registry, name: str = "churn", **kw: Any) -> ModelVersion:
    options: dict[str, Any] = {
        "bundle_digest": BUNDLE,
        "manifest_digest": MANIFEST,
        "run_id": "run000000001",
        "dataset_version": 3,
        "config_fingerprint": "fp",
        "metrics": {"roc_auc": 0.8},
        "gates": {"roc_auc >= 0.7": True},
        "status": "candidate",
    }
    options.update(kw)
    return registry.register(name, **options)


def states(registry: Registry, name: str = "churn") -> dict[int, tuple[str, tuple[str, ...]]]:
    return {v.version: (v.status, v.aliases) for v in registry.list_versions(name)}


# ---------------------------------------------------------------- schema


def test_migration_creates_exactly_the_registry_tables(store: MetadataStore) -> None:
    from conveyor.registry import _tables
    from conveyor.stores._tables import metadata
    from conveyor.testing.schema import schema_diffs

    ours = {"model_versions", "model_version_tags", "model_aliases", "model_alias_history"}
    assert _tables.model_versions.name == "model_versions"  # the import registers the tables
    assert schema_diffs(store.engine, metadata, ours) == []


def test_digest_columns_are_protected_from_gc(registry: Registry, store: MetadataStore) -> None:
    reg(registry)
    assert {BUNDLE, MANIFEST} <= store.referenced_digests()


# ---------------------------------------------------------------- registering


def test_versions_are_numbered_per_model(registry: Registry) -> None:
    assert [reg(registry).version for _ in range(3)] == [1, 2, 3]
    assert reg(registry, "fraud").version == 1
    v = registry.get("churn", 2)
    assert (v.model_name, v.version, v.ref) == ("churn", 2, "churn:2")
    assert v.run_id == "run000000001" and v.dataset_version == "3"
    assert v.metrics == {"roc_auc": 0.8} and v.gates == {"roc_auc >= 0.7": True}
    assert v.created_at.tzinfo is not None


def test_nan_metrics_are_stored_as_null(registry: Registry) -> None:
    import numpy as np

    v = reg(registry, metrics={"a": math.nan, "b": np.float64(0.5), "c": np.int64(3)})
    assert registry.get("churn", v.version).metrics == {"a": None, "b": 0.5, "c": 3}


def test_register_validates_inputs(registry: Registry) -> None:
    with pytest.raises(ModelError, match="status 'best'"):
        reg(registry, status="best")
    with pytest.raises(ModelError, match="model name 'bad name'"):
        reg(registry, "bad name")
    with pytest.raises(conveyor.errors.StoreError, match="not an artifact digest"):
        reg(registry, bundle_digest="xyz")


def test_register_as_champion_moves_the_alias(registry: Registry) -> None:
    reg(registry, status="champion", reason="first model")
    v2 = reg(registry, status="champion")
    assert v2.status == "champion" and v2.aliases == ("champion",)
    assert states(registry) == {2: ("champion", ("champion",)), 1: ("archived", ())}
    moves = registry.history("churn")
    assert [(m.action, m.from_version, m.to_version, m.reason) for m in moves] == [
        ("promote", None, 1, "first model"),
        ("promote", 1, 2, "registered as champion"),
    ]
    assert moves[0].actor == "pipeline"


def test_concurrent_registration_from_threads_and_processes(
    store_url: str, registry: Registry
) -> None:
    per_worker = 6
    found: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(per_worker):
            v = reg(registry, "race")
            with lock:
                found.append(v.version)

    src = str(Path(conveyor.__file__).resolve().parents[1])
    script = (
        "import sys\n"
        "from conveyor.stores import MetadataStore\n"
        "from conveyor.registry import Registry\n"
        "r = Registry(MetadataStore(sys.argv[1]))\n"
        "for _ in range(int(sys.argv[2])):\n"
        "    print(r.register('race', bundle_digest='a'*64, manifest_digest='b'*64, run_id=None,"
        " dataset_version=None, config_fingerprint=None, metrics={}, gates={}).version)\n"
    )
    env = {**os.environ, "PYTHONPATH": src}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, store_url, str(per_worker)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        found.extend(int(line) for line in out.split())
    total = 4 * per_worker
    assert sorted(found) == list(range(1, total + 1))
    assert [v.version for v in registry.list_versions("race")] == list(range(total, 0, -1))


# ---------------------------------------------------------------- resolving


def test_get_and_resolve_forms(registry: Registry) -> None:
    for _ in range(3):
        reg(registry)
    registry.promote("churn", 2, reason="best")
    registry.set_alias("churn", "canary", 3, reason="try it")
    assert registry.get("churn", 1).version == 1
    assert registry.get("churn", "v3").version == 3
    assert registry.get("churn", "3").version == 3
    assert registry.get("churn", "canary").version == 3
    assert registry.get("churn").version == 2  # default: champion
    assert registry.get("churn", "latest").version == 3
    assert registry.resolve("churn").version == 2
    assert registry.resolve("churn@champion").version == 2
    assert registry.resolve("churn:1").version == 1
    assert registry.resolve("churn:v3").aliases == ("canary",)
    assert registry.resolve("churn@latest").version == 3


def test_unknown_model_lists_known_models(registry: Registry) -> None:
    reg(registry, "churn")
    reg(registry, "fraud")
    with pytest.raises(NotFound) as info:
        registry.resolve("chrun@champion")
    assert str(info.value).splitlines()[0] == (
        "model 'chrun' is not registered (did you mean 'churn'?); known models: churn, fraud"
    )


def test_empty_registry_says_so(registry: Registry) -> None:
    with pytest.raises(NotFound, match="known models: none yet"):
        registry.get("churn")
    assert registry.list_models() == []


def test_unknown_version_lists_versions(registry: Registry) -> None:
    for _ in range(3):
        reg(registry)
    with pytest.raises(NotFound, match=r"model 'churn' has no version 7 \(versions: 1-3\)"):
        registry.resolve("churn:7")


def test_unknown_alias_lists_aliases(registry: Registry) -> None:
    reg(registry)
    reg(registry)
    registry.promote("churn", 1, reason="r")
    with pytest.raises(NotFound) as info:
        registry.get("churn", "champ")
    assert str(info.value).splitlines()[0] == (
        "model 'churn' has no alias 'champ' (did you mean 'champion'?); aliases: champion -> v1"
    )


def test_no_champion_yet_hints_at_promote(registry: Registry) -> None:
    reg(registry)
    with pytest.raises(NotFound) as info:
        registry.resolve("churn")
    assert "has no alias 'champion'" in info.value.message
    assert "conveyor models promote churn" in (info.value.hint or "")


def test_list_models(registry: Registry) -> None:
    reg(registry, "fraud")
    reg(registry, "churn")
    reg(registry, "churn")
    registry.promote("churn", 2, reason="r")
    summaries = registry.list_models()
    assert [(s.name, s.versions, s.latest_version, s.champion) for s in summaries] == [
        ("churn", 2, 2, 2),
        ("fraud", 1, 1, None),
    ]
    assert summaries[0].updated_at.tzinfo is not None


# ---------------------------------------------------------------- aliases, promotion, rollback


def test_promotion_keeps_statuses_in_step_with_aliases(registry: Registry) -> None:
    for _ in range(3):
        reg(registry)
    registry.promote("churn", 1, reason="first")
    registry.set_alias("churn", "challenger", 2, reason="canary")
    assert states(registry) == {
        3: ("candidate", ()),
        2: ("challenger", ("challenger",)),
        1: ("champion", ("champion",)),
    }
    registry.promote("churn", 2, reason="won the canary", actor="agent")
    assert states(registry) == {
        3: ("candidate", ()),
        2: ("champion", ("champion",)),
        1: ("archived", ()),
    }
    assert registry.aliases("churn") == {"champion": 2}
    last = registry.history("churn")[-2:]
    assert [(m.alias, m.action, m.from_version, m.to_version, m.actor) for m in last] == [
        ("champion", "promote", 1, 2, "agent"),
        ("challenger", "remove", 2, None, "agent"),
    ]


def test_new_challenger_returns_the_old_one_to_candidate(registry: Registry) -> None:
    for _ in range(3):
        reg(registry)
    registry.set_alias("churn", "challenger", 2, reason="a")
    registry.set_alias("churn", "challenger", 3, reason="b")
    assert states(registry)[2] == ("candidate", ())
    assert states(registry)[3] == ("challenger", ("challenger",))


def test_champion_cannot_be_challenger(registry: Registry) -> None:
    reg(registry, status="champion")
    with pytest.raises(ModelError, match="v1 is the champion"):
        registry.set_alias("churn", "challenger", 1, reason="x")


def test_setting_the_same_alias_twice_records_once(registry: Registry) -> None:
    reg(registry)
    registry.promote("churn", 1, reason="a")
    registry.promote("churn", 1, reason="again")
    assert len(registry.history("churn", "champion")) == 1


def test_rejected_versions_need_force(registry: Registry) -> None:
    reg(registry, status="rejected")
    with pytest.raises(ModelError, match="v1 is rejected"):
        registry.promote("churn", 1, reason="try")
    assert registry.promote("churn", 1, reason="override", force=True).status == "champion"


def test_remove_alias(registry: Registry) -> None:
    reg(registry)
    reg(registry)
    registry.promote("churn", 1, reason="a")
    registry.set_alias("churn", "challenger", 2, reason="b")
    assert registry.remove_alias("churn", "challenger", reason="ended") == 2
    assert states(registry)[2] == ("candidate", ())
    assert registry.remove_alias("churn", "champion", reason="retired") == 1
    assert states(registry)[1] == ("archived", ())
    with pytest.raises(NotFound, match="has no alias 'champion'"):
        registry.remove_alias("churn", "champion", reason="again")


def test_rollback_walks_back_through_champions(registry: Registry) -> None:
    for _ in range(3):
        reg(registry)
    for v in (1, 2, 3):
        registry.promote("churn", v, reason=f"v{v}")
    back = registry.rollback("churn", reason="v3 misbehaves", actor="agent")
    assert back.version == 2 and back.status == "champion"
    assert states(registry)[3] == ("archived", ())
    assert registry.rollback("churn", reason="v2 too").version == 1
    with pytest.raises(
        NotFound, match=r"no previous champion to roll back to \(v1 is the champion\)"
    ):
        registry.rollback("churn", reason="nothing left")
    moves = [
        (m.action, m.from_version, m.to_version, m.reason)
        for m in registry.history("churn", "champion")
    ]
    assert moves[-2:] == [("rollback", 3, 2, "v3 misbehaves"), ("rollback", 2, 1, "v2 too")]


def test_rollback_after_a_new_promotion_returns_to_the_last_champion(registry: Registry) -> None:
    for _ in range(4):
        reg(registry)
    registry.promote("churn", 1, reason="a")
    registry.promote("churn", 2, reason="b")
    registry.rollback("churn", reason="bad")  # -> 1
    registry.promote("churn", 3, reason="c")
    assert registry.rollback("churn", reason="bad too").version == 1


def test_rollback_without_history(registry: Registry) -> None:
    reg(registry)
    with pytest.raises(NotFound, match="there is no champion"):
        registry.rollback("churn", reason="x")
    registry.promote("churn", 1, reason="a")
    with pytest.raises(NotFound, match="no previous champion"):
        registry.rollback("churn", reason="x")


def test_set_status(registry: Registry) -> None:
    reg(registry)
    reg(registry)
    registry.set_status("churn", 1, "champion", reason="manual")
    assert states(registry)[1] == ("champion", ("champion",))
    registry.set_status("churn", 2, "challenger")
    assert states(registry)[2] == ("challenger", ("challenger",))
    registry.set_status("churn", 1, "rejected", reason="bad data")
    assert states(registry)[1] == ("rejected", ())
    assert registry.history("churn", "champion")[-1].action == "remove"
    with pytest.raises(ModelError, match="status 'gold'"):
        registry.set_status("churn", 1, "gold")


def test_tags(registry: Registry) -> None:
    reg(registry)
    registry.tag("churn", 1, "owner", "ana")
    v = registry.tag("churn", "v1", "owner", "bo")
    assert v.tags == {"owner": "bo"}
    registry.tag("churn", 1, "ticket", "ML-7")
    assert registry.get("churn", 1).tags == {"owner": "bo", "ticket": "ML-7"}
    with pytest.raises(ModelError, match="tag key"):
        registry.tag("churn", 1, "", "x")


def test_compare(registry: Registry) -> None:
    reg(registry, metrics={"roc_auc": 0.80, "f1": 0.5, "note": "x"})
    reg(registry, metrics={"roc_auc": 0.85, "recall": 0.7})
    out = registry.compare("churn", 1, "v2")
    assert out["a"]["version"] == 1 and out["b"]["version"] == 2
    assert out["metrics"]["roc_auc"]["delta"] == pytest.approx(0.05)
    assert out["metrics"]["f1"] == {"a": 0.5, "b": None, "delta": None}
    assert out["metrics"]["recall"] == {"a": None, "b": 0.7, "delta": None}
    assert out["metrics"]["note"]["delta"] is None


def test_a_lost_numbering_race_is_retried(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer takes the number between our read and our insert: the insert is retried."""
    from conveyor.registry import _queries
    from conveyor.registry._tables import model_versions

    real = _queries.insert_version
    calls = {"n": 0}

    def racing(conn: sa.Connection, name: str, values: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            row = {"model_name": name, "version": 1, "created_at": _queries.now(), **values}
            conn.execute(model_versions.insert().values(**row))  # the other writer
            conn.execute(model_versions.insert().values(**row))  # us: unique violation
        return real(conn, name, values)

    monkeypatch.setattr(_queries, "insert_version", racing)
    v = reg(registry)
    assert calls["n"] == 2
    assert v.version == 1  # the failed attempt was rolled back as a whole
    assert [x.version for x in registry.list_versions("churn")] == [1]
