"""The model steps: train -> evaluate -> register.

``train`` detects column types, builds the feature pipeline, fits (and tunes)
every candidate and ranks them on the validation split. ``evaluate`` scores
the winner on the held-out test split against a baseline and the gates,
writes the reports, and packs the model bundle. ``register`` records the
bundle as a model version and applies the promotion rule, re-scoring the
current champion on the same test split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.errors import GateFailed
from conveyor.pipeline.step import Lazy, Step, StepContext, StepOutput

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from conveyor.config.models import ConveyorConfig

__all__ = ["MODEL_STEPS", "TUNE_STEP"]


# ---------------------------------------------------------------- helpers


def _xy(frame: pl.DataFrame, cfg: ConveyorConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Polars -> pandas at the features boundary: raw feature columns and the target."""
    drop = [c for c in (cfg.target, cfg.id_column) if c and c in frame.columns]
    X = frame.drop(drop).to_pandas()
    y = frame.get_column(cfg.target).to_pandas()
    return X, y


def _classes(cfg: ConveyorConfig, y: pd.Series) -> list[Any] | None:
    if cfg.task == "regression":
        return None
    classes = sorted(y.dropna().unique().tolist(), key=lambda v: (str(type(v)), v))
    if cfg.task == "binary" and cfg.positive_class is not None and len(classes) == 2:
        pos = _match_label(cfg.positive_class, classes)
        classes = [c for c in classes if c != pos] + [pos]
    return classes


def _match_label(label: Any, classes: list[Any]) -> Any:
    from conveyor.errors import ConfigError

    for c in classes:
        if c == label or str(c) == str(label):
            return c
    raise ConfigError(
        f"positive_class '{label}' is not a class of the target; classes are: {classes}"
    )


def _positive(cfg: ConveyorConfig, classes: list[Any] | None) -> Any:
    if cfg.task != "binary" or not classes:
        return None
    return classes[-1]


# ---------------------------------------------------------------- train


def _train(ctx: StepContext, train: pl.DataFrame, validation: pl.DataFrame) -> StepOutput:
    from conveyor.features import build_preprocessor, detect_column_types, required_columns
    from conveyor.train import check_target, default_primary_metric, fit_candidates

    cfg = ctx.config
    types = detect_column_types(
        train, target=cfg.target, id_column=cfg.id_column, config=cfg.features
    )
    notes = [
        "column types (set features.* to correct them):",
        *[f"  {line}" for line in types.describe()],
    ]
    X_train, y_train = _xy(train, cfg)
    X_valid, y_valid = _xy(validation, cfg) if validation.height else (None, None)
    target_warnings = check_target(y_train, task=cfg.task, target_name=cfg.target)
    classes = _classes(cfg, y_train)
    primary = cfg.evaluate.primary_metric or default_primary_metric(cfg.task)
    preprocessor = build_preprocessor(cfg.features, types, task=cfg.task, seed=cfg.seed)
    board = fit_candidates(
        cfg.models,
        preprocessor=preprocessor,
        X_train=X_train,
        y_train=y_train,
        X_valid=X_valid,
        y_valid=y_valid,
        task=cfg.task,
        seed=cfg.seed,
        primary_metric=primary,
        classes=classes,
        pos_label=_positive(cfg, classes),
        target_name=cfg.target,
        optuna_storage=ctx.services["optuna_storage"]()
        if any(m.tune for m in cfg.models)
        else None,
        study_prefix=_study_prefix(ctx),
        on_progress=ctx.progress,
        client=_dask_client(ctx),
    )
    import joblib

    out = ctx.workdir / "candidates"
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for rank, cand in enumerate(board.candidates):
        folder = out / f"{rank:02d}"
        folder.mkdir()
        # An intermediate artifact, read back only through the artifact store, which checks
        # every file's sha256 against the digest this run records: pickle is safe here and
        # 50-200x faster than skops on forests. The deployable bundle uses skops.
        joblib.dump(cand.pipeline, folder / "model.joblib")
        index.append(
            {
                "rank": rank,
                "name": cand.name,
                "file": f"{folder.name}/model.joblib",
                "format": "joblib",
                "trusted_types": [],
                "estimator": cand.spec.estimator,
                "params": cand.params,
                "best_iteration": cand.best_iteration,
                "validation_metrics": cand.validation_metrics,
                "fit_seconds": cand.fit_seconds,
                "curve": cand.curve,
                "tuning": None
                if cand.tuning is None
                else {
                    "best_params": cand.tuning.best_params,
                    "best_value": cand.tuning.best_value,
                    "n_trials": cand.tuning.n_trials,
                    "trials": cand.tuning.trials,
                    "study_name": cand.tuning.study_name,
                },
            }
        )
    types_doc = {k: list(v) for k, v in types.as_dict().items()}
    (out / "candidates.json").write_text(
        json.dumps(
            {
                "primary_metric": primary,
                "classes": classes,
                "column_types": types_doc,
                "input_columns": required_columns(cfg.features, types),
                "candidates": index,
            },
            default=str,
            indent=1,
        )
    )
    notes.append("leaderboard (validation):")
    notes += [
        f"  {i + 1}. {r['name']}: {primary} {r.get(primary, float('nan')):.4f}"
        for i, r in enumerate(board.rows)
    ]
    return StepOutput(
        outputs={"candidates": out},
        handoff={"candidates": {rank: cand.pipeline for rank, cand in enumerate(board.candidates)}},
        rows_in=train.height,
        metrics={
            "primary_metric": primary,
            "leaderboard": board.rows,
            "summary": {"leaderboard": board.rows, "primary_metric": primary},
        },
        notes=notes,
        warnings=[*types.warnings, *target_warnings, *board.warnings],
    )


def _dask_client(ctx: StepContext) -> Any:
    """The Dask client of ``executor: dask`` (None for the local executor)."""
    return getattr(ctx.services.get("executor"), "client", None)


def _study_prefix(ctx: StepContext) -> str:
    """Same data + same model specs -> same study, so an interrupted study resumes."""
    from conveyor.config import config_fingerprint

    cfg = ctx.config
    specs = config_fingerprint(
        {
            "models": [m.model_dump(mode="json") for m in cfg.models],
            "features": cfg.features.model_dump(mode="json", by_alias=True),
        }
    )
    suffix = ctx.services.get("study_suffix") or ""
    return f"{cfg.project}:{ctx.input_digests.get('train', '')[:12]}:{specs[:8]}{suffix}"


def _tune(ctx: StepContext, train: pl.DataFrame, validation: pl.DataFrame) -> StepOutput:
    """``conveyor tune``: run the studies of the tuned candidates, record the best parameters."""
    from conveyor.errors import ConfigError
    from conveyor.features import build_preprocessor, detect_column_types
    from conveyor.train import default_primary_metric, tune

    cfg = ctx.config
    wanted = ctx.services.get("tune_models")
    specs = [
        (i, m)
        for i, m in enumerate(cfg.models)
        if m.tune is not None and (not wanted or m.label in wanted)
    ]
    if wanted:
        unknown = sorted(set(wanted) - {m.label for m in cfg.models})
        if unknown:
            raise ConfigError(
                f"--model {', '.join(unknown)}: no such candidate; candidates are: "
                f"{', '.join(m.label for m in cfg.models)}"
            )
    if not specs:
        raise ConfigError(
            "nothing to tune: no candidate in 'models' has a 'tune' section"
            + (f" among {', '.join(wanted)}" if wanted else "")
        )
    types = detect_column_types(
        train, target=cfg.target, id_column=cfg.id_column, config=cfg.features
    )
    X_train, y_train = _xy(train, cfg)
    X_valid, y_valid = _xy(validation, cfg) if validation.height else (None, None)
    classes = _classes(cfg, y_train)
    primary = cfg.evaluate.primary_metric or default_primary_metric(cfg.task)
    preprocessor = build_preprocessor(cfg.features, types, task=cfg.task, seed=cfg.seed)
    storage = ctx.services["optuna_storage"]()
    results: dict[str, Any] = {}
    notes = []
    for index, spec in specs:
        result = tune(
            spec,
            preprocessor=preprocessor,
            X_train=X_train,
            y_train=y_train,
            X_valid=X_valid,
            y_valid=y_valid,
            task=cfg.task,
            seed=cfg.seed,
            primary_metric=primary,
            storage=storage,
            study_name=f"{_study_prefix(ctx)}.{spec.label}",
            pos_label=_positive(cfg, classes),
            where=f"models[{index}]",
            on_progress=ctx.progress,
            client=_dask_client(ctx),
        )
        results[spec.label] = {
            "metric": primary,
            "best_value": result.best_value,
            "best_params": result.best_params,
            "n_trials": result.n_trials,
            "n_new_trials": result.n_new_trials,
            "study_name": result.study_name,
            "trials": result.trials,
        }
        notes.append(
            f"{spec.label}: best {primary} {result.best_value:.4f} ({result.n_trials} trials, "
            f"{result.n_new_trials} new): {result.best_params}"
        )
    return StepOutput(
        outputs={"tuning": results},
        rows_in=train.height,
        metrics={
            "best": {
                k: {"best_value": v["best_value"], "best_params": v["best_params"]}
                for k, v in results.items()
            }
        },
        notes=notes,
    )


TUNE_STEP = Step(
    name="tune",
    fn=_tune,
    inputs=("train", "validation"),
    outputs={"tuning": "json"},
    version="1",
    cacheable=False,
    description="run the Optuna studies of the tuned candidates",
)


# ---------------------------------------------------------------- evaluate


def _evaluate(
    ctx: StepContext,
    candidates: Path,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    test: pl.DataFrame,
) -> StepOutput:
    from conveyor.bundle import build_reference, build_signature, save_bundle
    from conveyor.bundle._serialize import load_model

    fitted = ctx.handoff.get("candidates", {})

    def load_pipeline(entry: dict[str, Any]) -> Any:
        if entry["rank"] in fitted:  # trained in this run: no need to read them back
            return fitted[entry["rank"]]
        # The tree came out of the artifact store, which verified every file's sha256.
        return load_model(
            candidates / entry["file"],
            model_format=entry["format"],
            trusted_types=entry["trusted_types"],
            digest_verified=True,
        )

    from conveyor.evaluate import evaluate_model, render_html_report, render_json_report

    cfg = ctx.config
    meta = json.loads((candidates / "candidates.json").read_text())
    primary = meta["primary_metric"]
    classes = meta["classes"]
    positive = _positive(cfg, classes)
    X_train, y_train = _xy(train, cfg)
    X_test, y_test = _xy(test, cfg)
    threshold_data = _xy(validation, cfg) if validation.height else None
    evaluations = []
    for entry in meta["candidates"]:
        pipeline = load_pipeline(entry)
        ctx.progress(f"evaluating {entry['name']}", None)
        winner = entry["rank"] == 0
        evaluations.append(
            evaluate_model(
                pipeline,
                task=cfg.task,
                X_train=X_train,
                y_train=y_train,
                X_test=X_test,
                y_test=y_test,
                config=cfg.evaluate
                if winner
                else cfg.evaluate.model_copy(
                    update={"cv_folds": None, "permutation_importance": False, "slices": []}
                ),
                classes=classes,
                positive_class=positive,
                seed=cfg.seed,
                primary_metric=primary,
                model_name=entry["name"],
                threshold_data=threshold_data,
            )
        )
    best = evaluations[0]
    best_entry = meta["candidates"][0]
    leaderboard = [
        {
            "model": e.model_name,
            "winner": i == 0,
            **{k: v for k, v in e.metrics.items() if isinstance(v, (int, float))},
        }
        for i, e in enumerate(evaluations)
    ]
    run_info = {
        "run_id": ctx.run_id,
        "project": cfg.project,
        "task": cfg.task,
        "target": cfg.target,
        "dataset": ctx.input_digests.get("test", "")[:12],
    }
    tuning = {c["name"]: c["tuning"]["trials"] for c in meta["candidates"] if c.get("tuning")}
    curves = {c["name"]: c["curve"] for c in meta["candidates"] if c.get("curve")}
    html = render_html_report(
        evaluations,
        title=f"{cfg.project}: evaluation",
        leaderboard=leaderboard,
        run_info=run_info,
        tuning=tuning,
        curves=curves,
    )
    report_json = render_json_report(
        evaluations,
        title=f"{cfg.project}: evaluation",
        leaderboard=leaderboard,
        run_info=run_info,
        tuning=tuning,
        curves=curves,
    )
    report_dir = Path(".conveyor") / "reports" / ctx.run_id
    # The bundle: the winner, its signature, reference statistics, metrics.
    pipeline = load_pipeline(best_entry)
    threshold = best.threshold.threshold if best.threshold is not None else None
    types = meta["column_types"]
    inputs = [c for c in meta["input_columns"] if c in X_train.columns]
    signature = build_signature(
        X_train[inputs],
        task=cfg.task,
        target=cfg.target,
        classes=classes,
        positive_class=positive,
        threshold=threshold,
        categorical_columns=types.get("categorical", []),
        text_columns=types.get("text", []),
        nullable_columns=inputs,  # the feature pipeline imputes every input column
    )
    # The reference prediction mix must follow the served decision rule (the
    # tuned threshold), or unchanged traffic would look like prediction drift.
    preds = (
        signature.decide_many(pipeline.predict_proba(X_train))
        if cfg.task == "binary"
        else pipeline.predict(X_train)
    )
    reference = build_reference(
        X_train,
        preds,
        numeric=[c for c in types.get("numeric", []) if c in inputs],
        categorical=[c for c in types.get("categorical", []) if c in inputs],
        seed=cfg.seed,
        task=cfg.task,
    )
    bundle_dir = ctx.workdir / "bundle"
    info = save_bundle(
        pipeline,
        bundle_dir,
        signature=signature,
        reference=reference,
        metrics={
            "test": best.metrics,
            "baseline": best.baseline_metrics,
            "primary_metric": primary,
            "gates": best.gates.results if best.gates else [],
            "threshold": threshold,
        },
        run_id=ctx.run_id,
        dataset_version=ctx.input_digests.get("train"),
        config_fingerprint=ctx.loaded.fingerprint,
        model_name=cfg.model_name,
        X_check=X_test,
        onnx=True,
    )
    evaluation_doc = {
        "model": best.model_name,
        "primary_metric": primary,
        "metrics": best.metrics,
        "baseline": best.baseline_metrics,
        "beats_baseline": [best.beats_baseline, best.baseline_reason],
        "gates": {
            "passed": best.gates.passed,
            "results": best.gates.results,
            "failed": best.gates.failed,
        },
        "threshold": threshold,
        "classes": classes,
        "positive_class": positive,
        "warnings": best.warnings,
        "onnx": info.manifest.onnx.model_dump(
            mode="json", include={"present", "max_abs_diff", "reason"}
        ),
        "report_html": str(report_dir / "report.html"),
        "report_json": str(report_dir / "report.json"),
    }
    notes = [
        f"{best.model_name}: test {primary} {best.metrics.get(primary, float('nan')):.4f} "
        f"(baseline {best.baseline_metrics.get(primary, float('nan')):.4f})"
    ]
    for r in best.gates.results:
        notes.append(
            f"gate {r['metric']} {r['op']} {r['threshold']}: {r['value']:.4f} "
            f"{'pass' if r['passed'] else 'FAIL'}"
        )
    onnx = info.manifest.onnx
    notes.append(
        "onnx: "
        + (
            f"exported, max abs diff {onnx.max_abs_diff:.2e}"
            if onnx.present
            else f"not exported ({onnx.reason})"
        )
    )
    return StepOutput(
        outputs={"evaluation": evaluation_doc, "bundle": bundle_dir},
        rows_in=test.height,
        metrics={
            "test": best.metrics,
            "summary": {
                "report_html": str((ctx.root / report_dir / "report.html").resolve()),
                "report_json": str((ctx.root / report_dir / "report.json").resolve()),
                "primary_metric": f"{primary} {best.metrics.get(primary, float('nan')):.4f} (test)",
                "leaderboard": leaderboard,
            },
        },
        notes=notes,
        warnings=list(best.warnings),
        project_files={
            str(report_dir / "report.html"): html.encode(),
            str(report_dir / "report.json"): json.dumps(
                report_json, indent=1, allow_nan=False
            ).encode(),
        },
    )


# ---------------------------------------------------------------- register


def _register(
    ctx: StepContext,
    evaluation: dict[str, Any],
    bundle: Lazy[Path],
    test: Lazy[pl.DataFrame],
) -> StepOutput:
    from conveyor.bundle import manifest_digest
    from conveyor.errors import NotFound

    cfg = ctx.config
    registry = ctx.services["registry_factory"]()
    name = cfg.model_name
    primary = evaluation["primary_metric"]
    gates_passed = bool(evaluation["gates"]["passed"]) and bool(evaluation["beats_baseline"][0])
    failed = evaluation["gates"]["failed"] or (
        [] if evaluation["beats_baseline"][0] else [evaluation["beats_baseline"][1]]
    )

    # The same bundle registered before (a re-run with nothing changed) is not a new
    # version. The store's tree digest finds it without materialising the bundle.
    tree = ctx.input_digests["bundle"]
    try:
        versions = registry.list_versions(name)
    except NotFound:
        versions = []
    existing = next((v for v in versions if v.bundle_digest == tree), None)
    digest = existing.manifest_digest if existing is not None else manifest_digest(bundle())
    if existing is None:
        existing = next((v for v in versions if v.manifest_digest == digest), None)
    if existing is not None:
        summary = {
            "model": f"{name} v{existing.version}",
            "model_version": existing.version,
            "decision": f"{existing.status}: already registered (same bundle)",
        }
        if not gates_passed:
            raise GateFailed(f"{name} v{existing.version} failed its gates: " + "; ".join(failed))
        return StepOutput(
            outputs={
                "model_version": {
                    "name": name,
                    "version": existing.version,
                    "status": existing.status,
                    "reason": "already registered",
                }
            },
            metrics={"summary": summary},
            notes=[
                f"{name} v{existing.version} holds this exact bundle already ({existing.status})"
            ],
        )

    from conveyor.bundle import load_bundle
    from conveyor.evaluate import compute_metrics, greater_is_better
    from conveyor.registry import decide_promotion, git_commit_of

    champion_value = None
    try:
        champion = registry.get(name, cfg.promotion.alias)
    except NotFound:
        champion = None
    if champion is not None and gates_passed:
        # Re-score the champion on this run's test split: never compare with stale numbers.
        X_test, y_test = _xy(test(), cfg)
        champ_dir = ctx.workdir / "champion"
        ctx.services["artifacts"].get_tree(champion.bundle_digest, champ_dir)
        loaded = load_bundle(
            champ_dir, expected_manifest_digest=champion.manifest_digest, onnx=False
        )
        proba = loaded.predict_proba(X_test) if cfg.task != "regression" else None
        champion_metrics = compute_metrics(
            cfg.task,
            y_test,
            y_pred=loaded.predict(X_test),
            y_proba=proba,
            classes=evaluation["classes"],
            positive_class=evaluation["positive_class"],
            threshold=loaded.signature.threshold,
        )
        champion_value = champion_metrics.get(primary)
    decision = decide_promotion(
        evaluation["metrics"],
        None if champion is None else {primary: champion_value},
        primary_metric=primary,
        greater_is_better=greater_is_better(primary),
        min_delta=cfg.promotion.min_delta,
        gates_passed=gates_passed,
        auto=cfg.promotion.auto,
    )
    version = registry.register(
        name,
        bundle_digest=ctx.input_digests["bundle"],
        manifest_digest=digest,
        run_id=ctx.run_id,
        dataset_version=ctx.input_digests.get("test"),
        config_fingerprint=ctx.loaded.fingerprint,
        metrics=evaluation["metrics"],
        gates=evaluation["gates"],
        status=decision.action,
        git_commit=git_commit_of(ctx.root),
        description=decision.reason,
        reason=decision.reason,
        actor="rule:promotion",
    )
    summary = {
        "model": f"{name} v{version.version}",
        "model_version": version.version,
        "decision": f"{decision.action}: {decision.reason}",
    }
    notes = [f"registered {name} v{version.version} as {decision.action}: {decision.reason}"]
    if champion is not None and champion_value is not None:
        notes.append(
            f"champion v{champion.version} re-scored on this test split: {primary} "
            f"{champion_value:.4f}; candidate {evaluation['metrics'].get(primary, float('nan')):.4f}"
        )
    if not gates_passed:
        raise GateFailed(
            f"{name} v{version.version} failed its gates and was registered as rejected: "
            + "; ".join(failed)
        )
    return StepOutput(
        outputs={
            "model_version": {
                "name": name,
                "version": version.version,
                "status": decision.action,
                "reason": decision.reason,
            }
        },
        metrics={"summary": summary},
        notes=notes,
    )


MODEL_STEPS: tuple[Step, ...] = (
    Step(
        name="train",
        fn=_train,
        inputs=("train", "validation"),
        outputs={"candidates": "tree"},
        version="1",
        config_section=lambda cfg: {
            "features": cfg.features.model_dump(mode="json", by_alias=True),
            "models": [m.model_dump(mode="json") for m in cfg.models],
            "primary_metric": cfg.evaluate.primary_metric,
        },
        code_refs=lambda cfg: (
            [c.transformer for c in cfg.features.custom]
            + [m.estimator for m in cfg.models if ":" in m.estimator]
        ),
        description="fit and tune every candidate, rank them on the validation split",
    ),
    Step(
        name="evaluate",
        fn=_evaluate,
        inputs=("candidates", "train", "validation", "test"),
        outputs={"evaluation": "json", "bundle": "tree"},
        version="1",
        config_section=lambda cfg: {
            "evaluate": cfg.evaluate.model_dump(mode="json"),
            "model_name": cfg.model_name,
        },
        description="score on the test split, baseline, gates, report, bundle",
    ),
    Step(
        name="register",
        fn=_register,
        inputs=("evaluation", "bundle", "test"),
        lazy_inputs=("bundle", "test"),
        outputs={"model_version": "json"},
        version="1",
        config_section=lambda cfg: cfg.promotion,
        cacheable=False,
        description="register the model version and apply the promotion rule",
    ),
)
