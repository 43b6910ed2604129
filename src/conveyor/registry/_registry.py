"""The model registry: numbered versions, aliases, promotion, rollback, history.

Statuses follow the serving aliases: the version the ``champion`` alias points
at has status ``champion`` and the one ``challenger`` points at ``challenger``.
Moving the champion archives the old one; removing the challenger alias
returns its version to ``candidate``. ``rejected`` marks versions that failed
their gates. Every alias change is written to the alias history with a reason
and an actor, in the same transaction as the change.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from conveyor.errors import ModelError, NotFound, StoreError
from conveyor.registry import _aliases as moves
from conveyor.registry import _queries as q
from conveyor.registry._records import AliasMove, ModelSummary, ModelVersion
from conveyor.registry._refs import (
    CHALLENGER,
    CHAMPION,
    parse_ref,
    validate_alias,
    validate_model_name,
)
from conveyor.registry._tables import MODEL_STATUSES
from conveyor.stores import retrying
from conveyor.stores._digests import validate_digest

if TYPE_CHECKING:
    from conveyor.stores import MetadataStore

__all__ = ["Registry"]

T = TypeVar("T")
_WRITE_ATTEMPTS = 25


class _Conflict(Exception):
    """A concurrent writer won a unique key (e.g. the next version number); try again."""


def _check_status(status: str) -> str:
    if status not in MODEL_STATUSES:
        raise ModelError(
            f"status {status!r} is not valid (expected one of: {', '.join(MODEL_STATUSES)})"
        )
    return status


class Registry:
    """Model versions and aliases on a :class:`~conveyor.stores.MetadataStore`.

    Example:
        >>> registry = Registry(store)  # doctest: +SKIP
        >>> v = registry.register("churn", bundle_digest=tree, manifest_digest=man, run_id=run,
        ...                       dataset_version="3", config_fingerprint=fp,
        ...                       metrics={"roc_auc": 0.84}, gates={}, status="candidate")  # doctest: +SKIP
        >>> registry.promote("churn", v.version, reason="beats v2 by 0.01")  # doctest: +SKIP
        >>> registry.resolve("churn@champion").version  # doctest: +SKIP
    """

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"Registry({self.store!r})"

    # ------------------------------------------------------------ plumbing

    def _write(self, fn: Callable[[sa.Connection], T], *, what: str) -> T:
        """Run ``fn`` in one write transaction; lock conflicts and lost unique races are retried."""

        def attempt() -> T:
            with self.store.begin() as conn:
                return fn(conn)

        def on_error(exc: BaseException) -> None:
            if isinstance(exc, sa.exc.IntegrityError):
                raise _Conflict from exc

        last: _Conflict | None = None
        for n in range(_WRITE_ATTEMPTS):
            try:
                return retrying(attempt, what=f"registry: {what}", on_error=on_error)
            except _Conflict as exc:
                last = exc
                time.sleep(0.005 * (n + 1) * (0.5 + random.random()))
        raise StoreError(
            f"registry: {what} failed {_WRITE_ATTEMPTS} times on concurrent writes: "
            f"{last.__cause__ if last else ''}"
        )

    def _read(self, fn: Callable[[sa.Connection], T], *, what: str) -> T:
        def attempt() -> T:
            with self.store.connect() as conn:
                return fn(conn)

        return retrying(attempt, what=f"registry: {what}")

    # ------------------------------------------------------------ registering

    def register(
        self,
        model_name: str,
        *,
        bundle_digest: str,
        manifest_digest: str,
        run_id: str | None,
        dataset_version: str | int | None,
        config_fingerprint: str | None,
        metrics: Mapping[str, Any],
        gates: Any,
        status: str = "candidate",
        git_commit: str | None = None,
        description: str = "",
        reason: str = "",
        actor: str = "pipeline",
    ) -> ModelVersion:
        """Register the next version of ``model_name`` (numbered 1, 2, 3… per name).

        Numbering is race-free: concurrent registrations from several
        processes each get their own number (a unique violation is retried).
        Registering with status ``champion`` or ``challenger`` also moves that
        alias, in the same transaction.

        Args:
            model_name: registry name.
            bundle_digest: artifact-store tree digest of the bundle directory.
            manifest_digest: sha256 of the bundle's ``manifest.json``.
            run_id: the run that produced it.
            dataset_version: the dataset version it was trained on.
            config_fingerprint: fingerprint of the config.
            metrics: evaluation metrics (NaN is stored as null).
            gates: gate results.
            status: candidate | rejected | challenger | champion | archived.
            git_commit: from :func:`git_commit_of`.
            description: free text.
            reason: why (recorded in the alias history when an alias moves).
            actor: who registered it.
        """
        validate_model_name(model_name)
        _check_status(status)
        validate_digest(bundle_digest)
        validate_digest(manifest_digest)
        values = {
            "status": "candidate" if status in (CHAMPION, CHALLENGER) else status,
            "run_id": run_id,
            "dataset_version": None if dataset_version is None else str(dataset_version),
            "config_fingerprint": config_fingerprint,
            "git_commit": git_commit,
            "bundle_digest": bundle_digest,
            "manifest_digest": manifest_digest,
            "metrics": q.json_safe(dict(metrics)),
            "gates": q.json_safe(gates if gates is not None else {}),
            "description": description,
        }

        def insert(conn: sa.Connection) -> ModelVersion:
            q.lock_model(conn, model_name)
            row = q.insert_version(conn, model_name, values)
            if status in (CHAMPION, CHALLENGER):
                moves.move_alias(
                    conn,
                    model_name,
                    status,
                    row,
                    action="promote" if status == CHAMPION else "set",
                    reason=reason or f"registered as {status}",
                    actor=actor,
                )
                row = conn.execute(sa.select(q.mv).where(q.mv.c.id == row.id)).one()
            return q.to_version(conn, row)

        return self._write(insert, what=f"registering a version of {model_name!r}")

    # ------------------------------------------------------------ reading

    def get(self, model_name: str, ref: int | str | None = None) -> ModelVersion:
        """The version ``ref`` names: a number (``3``, ``"v3"``), an alias, ``latest``; default champion.

        Raises:
            NotFound: unknown model (listing known ones), version or alias
                (listing what exists).
        """
        validate_model_name(model_name)
        return self._read(
            lambda conn: q.to_version(conn, q.resolve(conn, model_name, ref)),
            what=f"reading {model_name!r}",
        )

    def resolve(self, reference: str) -> ModelVersion:
        """Resolve ``churn@champion``, ``churn:3``, ``churn:v3`` or ``churn`` (the champion)."""
        parsed = parse_ref(reference)
        return self.get(parsed.name, parsed.version if parsed.version is not None else parsed.alias)

    def list_models(self) -> list[ModelSummary]:
        """Every registered model name with its version count and aliases."""
        return self._read(q.list_models, what="listing models")

    def list_versions(self, model_name: str) -> list[ModelVersion]:
        """All versions of ``model_name``, newest first."""
        validate_model_name(model_name)
        return self._read(
            lambda conn: q.list_versions(conn, model_name), what=f"listing {model_name!r}"
        )

    def aliases(self, model_name: str) -> dict[str, int]:
        """alias -> version number."""
        validate_model_name(model_name)

        def read(conn: sa.Connection) -> dict[str, int]:
            q.require_model(conn, model_name)
            return q.alias_map(conn, model_name)

        return self._read(read, what=f"reading aliases of {model_name!r}")

    def history(self, model_name: str, alias: str | None = None) -> list[AliasMove]:
        """Alias changes of ``model_name`` (optionally one alias), oldest first."""
        validate_model_name(model_name)
        return self._read(
            lambda conn: q.history(conn, model_name, alias),
            what=f"reading history of {model_name!r}",
        )

    # ------------------------------------------------------------ aliases and status

    def set_alias(
        self, model_name: str, alias: str, version: int | str, *, reason: str, actor: str = "user"
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` (``champion`` is a promotion; statuses follow)."""
        validate_model_name(model_name)
        validate_alias(alias)
        if alias == CHAMPION:
            return self.promote(model_name, version, reason=reason, actor=actor)

        def move(conn: sa.Connection) -> ModelVersion:
            q.lock_model(conn, model_name)
            row = q.resolve(conn, model_name, version)
            moves.move_alias(conn, model_name, alias, row, action="set", reason=reason, actor=actor)
            return q.to_version(conn, q.resolve(conn, model_name, row.version))

        return self._write(move, what=f"setting {model_name}@{alias}")

    def remove_alias(self, model_name: str, alias: str, *, reason: str, actor: str = "user") -> int:
        """Remove ``alias``; returns the version it pointed at.

        Raises:
            NotFound: the alias does not exist.
        """
        validate_model_name(model_name)
        validate_alias(alias)

        def remove(conn: sa.Connection) -> int:
            q.lock_model(conn, model_name)
            q.resolve(conn, model_name, alias)  # NotFound with the alias listing
            removed = moves.remove_alias(conn, model_name, alias, reason=reason, actor=actor)
            assert removed is not None
            return removed

        return self._write(remove, what=f"removing {model_name}@{alias}")

    def promote(
        self,
        model_name: str,
        version: int | str,
        *,
        reason: str,
        actor: str = "user",
        force: bool = False,
    ) -> ModelVersion:
        """Make ``version`` the champion; the old champion becomes ``archived``.

        Raises:
            ModelError: the version is ``rejected`` (failed its gates) and ``force`` is False.
        """
        validate_model_name(model_name)

        def move(conn: sa.Connection) -> ModelVersion:
            q.lock_model(conn, model_name)
            row = q.resolve(conn, model_name, version)
            if row.status == "rejected" and not force:
                raise ModelError(
                    f"model {model_name!r}: v{row.version} is rejected (it failed its gates) and "
                    "cannot be promoted",
                    hint="pass force=True (--force) to promote it anyway",
                )
            moves.move_alias(
                conn, model_name, CHAMPION, row, action="promote", reason=reason, actor=actor
            )
            return q.to_version(conn, q.resolve(conn, model_name, row.version))

        return self._write(move, what=f"promoting {model_name}:{version}")

    def rollback(self, model_name: str, *, reason: str, actor: str = "user") -> ModelVersion:
        """Move the champion back to the previous champion (per the alias history).

        Rolling back twice goes two champions back; the rolled-back version
        becomes ``archived``.

        Raises:
            NotFound: there is no previous champion to return to.
        """
        validate_model_name(model_name)

        def move(conn: sa.Connection) -> ModelVersion:
            q.lock_model(conn, model_name)
            q.require_model(conn, model_name)
            target_version = moves.previous_champion(conn, model_name)
            if target_version is None:
                current = q.alias_map(conn, model_name).get(CHAMPION)
                now = f"v{current} is the champion" if current else "there is no champion"
                raise NotFound(
                    f"model {model_name!r}: no previous champion to roll back to ({now})"
                )
            row = q.resolve(conn, model_name, target_version)
            moves.move_alias(
                conn, model_name, CHAMPION, row, action="rollback", reason=reason, actor=actor
            )
            return q.to_version(conn, q.resolve(conn, model_name, row.version))

        return self._write(move, what=f"rolling back {model_name!r}")

    def set_status(
        self,
        model_name: str,
        version: int | str,
        status: str,
        *,
        reason: str = "",
        actor: str = "user",
    ) -> ModelVersion:
        """Set a version's status, keeping aliases consistent.

        ``champion`` promotes, ``challenger`` sets the challenger alias; any
        other status removes the champion/challenger alias from the version.
        """
        validate_model_name(model_name)
        _check_status(status)
        if status == CHAMPION:
            return self.promote(
                model_name, version, reason=reason or "status set to champion", actor=actor
            )
        if status == CHALLENGER:
            return self.set_alias(
                model_name,
                CHALLENGER,
                version,
                reason=reason or "status set to challenger",
                actor=actor,
            )

        def change(conn: sa.Connection) -> ModelVersion:
            q.lock_model(conn, model_name)
            row = q.resolve(conn, model_name, version)
            aliases = q.alias_map(conn, model_name)
            for alias in (CHAMPION, CHALLENGER):
                if aliases.get(alias) == row.version:
                    moves.remove_alias(
                        conn,
                        model_name,
                        alias,
                        reason=reason or f"status set to {status}",
                        actor=actor,
                    )
            q.set_status_only(conn, row.id, status)
            return q.to_version(conn, q.resolve(conn, model_name, row.version))

        return self._write(change, what=f"setting the status of {model_name}:{version}")

    def tag(self, model_name: str, version: int | str, key: str, value: str) -> ModelVersion:
        """Set tag ``key`` of a version to ``value`` (replacing any earlier value)."""
        validate_model_name(model_name)
        if not isinstance(key, str) or not key.strip() or len(key) > 200:
            raise ModelError(f"tag key {key!r} must be 1-200 characters")
        if not isinstance(value, str):
            raise ModelError(f"tag {key!r}: value must be text, got {type(value).__name__}")

        def change(conn: sa.Connection) -> ModelVersion:
            row = q.resolve(conn, model_name, version)
            q.upsert_tag(conn, row.id, key, value)
            return q.to_version(conn, row)

        return self._write(change, what=f"tagging {model_name}:{version}")

    # ------------------------------------------------------------ comparing

    def compare(self, model_name: str, a: int | str, b: int | str) -> dict[str, Any]:
        """Metrics of two versions side by side with ``delta = b - a`` for numbers.

        Returns:
            ``{"model", "a": {version, status, aliases, metrics}, "b": {...},
            "metrics": {name: {"a", "b", "delta"}}}``
        """
        va, vb = self.get(model_name, a), self.get(model_name, b)
        table: dict[str, dict[str, Any]] = {}
        for name in sorted(set(va.metrics) | set(vb.metrics)):
            x, y = va.metrics.get(name), vb.metrics.get(name)
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
            table[name] = {"a": x, "b": y, "delta": (y - x) if numeric else None}  # type: ignore[operator]

        def side(v: ModelVersion) -> dict[str, Any]:
            return {
                "version": v.version,
                "status": v.status,
                "aliases": list(v.aliases),
                "run_id": v.run_id,
                "dataset_version": v.dataset_version,
                "metrics": v.metrics,
            }

        return {"model": model_name, "a": side(va), "b": side(vb), "metrics": table}
