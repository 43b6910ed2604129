"""Upgrading a store written by an older Conveyor: on open, and with ``conveyor db upgrade``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from conveyor.cli.main import main
from conveyor.errors import StoreError
from conveyor.registry import Registry
from conveyor.stores import MetadataStore, head_revisions, migration_config
from conveyor.stores._engine import create_store_engine
from conveyor.stores.upgrade import schema_state, upgrade_store

OLD = "0002_registry"
RUN_ID = "0a1b2c3d4e5f"
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _head() -> str:
    (head,) = head_revisions()
    return head


def _create_old_store(url: str) -> None:
    """A store as Conveyor left it at ``0002_registry``, with a run and a model version in it."""
    engine = create_store_engine(url)
    try:
        with engine.begin() as conn:
            config = migration_config()
            config.attributes["connection"] = conn
            command.upgrade(config, OLD)
        with engine.begin() as conn:
            tables = sa.MetaData()
            tables.reflect(conn, only=["projects", "runs", "model_versions"])
            projects, runs, versions = (
                tables.tables[n] for n in ("projects", "runs", "model_versions")
            )
            project_id = conn.execute(
                projects.insert().values(name="churn", created_at=NOW).returning(projects.c.id)
            ).scalar_one()
            conn.execute(
                runs.insert().values(
                    id=RUN_ID, project_id=project_id, kind="run", status="succeeded",
                    started_at=NOW, finished_at=NOW, duration_s=3.5,
                    config={"project": "churn", "seed": 7}, config_fingerprint="fp1",
                    summary={"rows": 7043},
                )
            )  # fmt: skip
            conn.execute(
                versions.insert().values(
                    model_name="churn", version=1, status="champion", run_id=RUN_ID,
                    dataset_version="1", config_fingerprint="fp1", bundle_digest="a" * 64,
                    manifest_digest="b" * 64, metrics={"roc_auc": 0.84}, gates={},
                    description="first", created_at=NOW,
                )
            )  # fmt: skip
    finally:
        engine.dispose()


def _assert_data_intact(url: str) -> None:
    with MetadataStore(url) as store:
        run = store.get_run(RUN_ID)
        assert (run.status, run.project, run.config, run.summary) == (
            "succeeded", "churn", {"project": "churn", "seed": 7}, {"rows": 7043}
        )  # fmt: skip
        (version,) = Registry(store).list_versions("churn")
        assert (version.version, version.run_id, version.metrics) == (1, RUN_ID, {"roc_auc": 0.84})


def test_a_store_at_an_older_revision_opens_upgrades_and_keeps_its_data(metadata_url: str) -> None:
    _create_old_store(metadata_url)
    assert schema_state(metadata_url).current == (OLD,)
    with MetadataStore(metadata_url) as store:
        assert store.migrated is True
    assert schema_state(metadata_url).current == (_head(),)
    _assert_data_intact(metadata_url)


def test_db_upgrade_prints_the_revisions_and_applies_them(
    metadata_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_old_store(metadata_url)
    state = schema_state(metadata_url)
    assert state.pending[0] == "0003_serving" and state.pending[-1] == _head()

    assert main(["db", "current", "--url", metadata_url]) == 0
    out = capsys.readouterr().out
    assert f"at {OLD}; head is {_head()} ({len(state.pending)} pending: 0003_serving" in out

    assert main(["db", "upgrade", "--dry-run", "--url", metadata_url]) == 0
    out = capsys.readouterr().out
    assert f"would upgrade from {OLD} to {_head()}" in out
    assert schema_state(metadata_url).current == (OLD,), "a dry run changes nothing"

    assert main(["db", "upgrade", "--url", metadata_url]) == 0
    out = capsys.readouterr().out
    assert f"upgraded from {OLD} to {_head()} (applied {', '.join(state.pending)})" in out
    assert schema_state(metadata_url).current == (_head(),)
    _assert_data_intact(metadata_url)

    assert main(["db", "upgrade", "--url", metadata_url]) == 0
    assert f"already at {_head()}; nothing to do" in capsys.readouterr().out


def test_a_store_from_a_newer_conveyor_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/future.db"
    MetadataStore(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match="at 9999_future, which this version of Conveyor"):
        upgrade_store(url, dry_run=True)
    assert main(["db", "upgrade", "--url", url]) == 1
    err = capsys.readouterr().err
    assert "9999_future" in err and "refusing to upgrade it" in err
    assert main(["db", "current", "--url", url]) == 0
    assert "does not know (it ships up to" in capsys.readouterr().out


def test_looking_at_a_missing_sqlite_store_does_not_create_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nowhere/conveyor.db"
    before, after = upgrade_store(url, dry_run=True)
    assert before.exists is False and before.current == () and after == before
    assert before.pending[0] == "0001_initial" and before.pending[-1] == _head()
    assert not (tmp_path / "nowhere").exists()
    before, after = upgrade_store(url)
    assert after.current == (_head(),) and after.at_head


def test_db_commands_default_to_the_project_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONVEYOR_DB_URL", raising=False)
    (tmp_path / "conveyor.yaml").write_text(
        "project: p\ntask: binary\ntarget: y\ndata: {sources: [{path: d.csv}]}\n"
        "stores: {metadata: sqlite:///meta/team.db}\n"
    )
    assert main(["-C", str(tmp_path), "db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert f"metadata store sqlite:///{tmp_path}/meta/team.db: upgraded from (empty)" in out
    assert (tmp_path / "meta" / "team.db").is_file()


def test_a_bad_url_is_a_store_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "current", "--url", "mysql://u@h/db"]) == 1
    assert "backend 'mysql' is not supported" in capsys.readouterr().err
