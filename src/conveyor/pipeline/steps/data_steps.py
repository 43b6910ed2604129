"""The data steps: collect -> validate -> clean -> split.

Each wraps a pure function of ``conveyor.data`` and turns its result into a
:class:`StepOutput`. Only ``collect`` reads the outside world.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor.data.sources._paths import FILE_KINDS
from conveyor.errors import ConfigError, DataError
from conveyor.pipeline.step import Step, StepContext, StepOutput

if TYPE_CHECKING:
    import polars as pl

    from conveyor.config.models import ConveyorConfig

__all__ = ["DATA_STEPS"]


def _collect(ctx: StepContext) -> StepOutput:
    from conveyor.data.sources import collect

    cfg = ctx.config
    result = collect(
        cfg.data.sources, root=ctx.root, combine=cfg.data.combine, progress=ctx.progress
    )
    frame = result.frame
    if frame.height == 0:
        raise DataError("collect: the sources produced no rows")
    notes = [f"{name}: {rows:,} rows" for name, rows in result.per_source.items()] + list(
        result.notes
    )
    metrics: dict[str, Any] = {"columns": frame.width, "rows_per_source": result.per_source}
    if cfg.data.include_feedback:
        frame, added = _with_feedback(ctx, frame, notes)
        metrics["feedback_rows"] = added
    return StepOutput(outputs={"raw": frame}, rows_out=frame.height, metrics=metrics, notes=notes)


def _with_feedback(ctx: StepContext, frame: pl.DataFrame, notes: list[str]) -> tuple[Any, int]:
    """Append labelled feedback joined to logged inputs (``data.include_feedback``)."""
    from conveyor.data.feedback_rows import append_feedback_rows

    load = ctx.services.get("labelled_feedback")
    if load is None:
        raise ConfigError(
            "data.include_feedback: true needs the project's feedback and prediction log",
            hint="run the pipeline through conveyor.Project (conveyor run), which provides them",
        )
    cfg = ctx.config
    frame, report = append_feedback_rows(frame, load(), target=cfg.target, id_column=cfg.id_column)
    notes.extend(report.notes())
    return frame, report.added


def _collect_section(cfg: ConveyorConfig) -> Any:
    # Without include_feedback the section stays what it always was (cached runs stay valid).
    if not cfg.data.include_feedback:
        return cfg.data.sources
    sources = [s.model_dump(mode="json", by_alias=True) for s in cfg.data.sources]
    return {"sources": sources, "include_feedback": True}


def _collect_cacheable(cfg: ConveyorConfig) -> bool:
    # Feedback lives in the metadata store, which no file stamp covers: collect again each
    # run. The dataset digest is unchanged without new feedback, so later steps stay cached.
    return _all_file_sources(cfg) and not cfg.data.include_feedback


def _source_files(cfg: ConveyorConfig, root: Path) -> list[Path]:
    from conveyor.data.sources import source_files

    files: list[Path] = []
    for source in cfg.data.sources:
        if source.resolved_type in FILE_KINDS:
            try:
                files.extend(source_files(source, root=root))
            except DataError:
                files.append(root / (source.path or ""))  # missing: collect will explain
    return files


def _all_file_sources(cfg: ConveyorConfig) -> bool:
    return all(s.resolved_type in FILE_KINDS for s in cfg.data.sources)


def check_columns_exist(frame: pl.DataFrame, cfg: ConveyorConfig) -> None:
    """The target and id column must be columns of the data (checked before anything else)."""
    for key, name in (("target", cfg.target), ("id_column", cfg.id_column)):
        if name is None or name in frame.columns:
            continue
        guess = difflib.get_close_matches(name, frame.columns, n=1, cutoff=0.6)
        hint = f" (did you mean '{guess[0]}'?)" if guess else ""
        raise DataError(
            f"{key} '{name}' is not a column of the collected data{hint}; "
            f"columns are: {', '.join(frame.columns)}"
        )


def _validate(ctx: StepContext, raw: pl.DataFrame) -> StepOutput:
    from conveyor.data.schema import DatasetSchema, infer_schema
    from conveyor.data.validate import validate_frame

    cfg = ctx.config
    vcfg = cfg.validate_
    check_columns_exist(raw, cfg)
    schema_file = ctx.root / vcfg.schema_path
    project_files: dict[str, bytes] = {}
    notes: list[str] = []
    if schema_file.exists():
        schema = DatasetSchema.from_yaml(
            schema_file.read_text(encoding="utf-8"), source=str(schema_file)
        )
        notes.append(f"schema: {vcfg.schema_path} ({len(schema.columns)} columns)")
    else:
        schema = infer_schema(raw, target=cfg.target, id_column=cfg.id_column, config=vcfg)
        project_files[vcfg.schema_path] = schema.to_yaml().encode()
        notes.append(
            f"schema inferred and saved to {vcfg.schema_path}: edit it to tighten the rules"
        )
    if not vcfg.enabled:
        empty = raw.head(0)
        return StepOutput(
            outputs={"validated": raw, "rejects": empty, "validation_report": {"enabled": False}},
            rows_in=raw.height,
            rows_out=raw.height,
            notes=["validation disabled"],
            project_files=project_files,
        )
    result = validate_frame(raw, schema, vcfg)
    warnings = [v.message for v in result.violations]
    if result.rejects.height:
        notes.append(f"{result.rejects.height:,} rows moved to the rejects artifact")
    return StepOutput(
        outputs={
            "validated": result.frame,
            "rejects": result.rejects,
            "validation_report": result.report,
        },
        rows_in=raw.height,
        rows_out=result.frame.height,
        metrics={"violations": len(result.violations), "rejected_rows": result.rejects.height},
        notes=notes,
        warnings=warnings,
        project_files=project_files,
    )


def _clean(ctx: StepContext, validated: pl.DataFrame) -> StepOutput:
    from conveyor.data._clean import clean

    cfg = ctx.config
    protected = [c for c in (cfg.target, cfg.id_column) if c]
    result = clean(validated, cfg.clean, protected=protected)
    report = [_as_dict(r) for r in result.reports]
    return StepOutput(
        outputs={"clean": result.frame, "clean_report": report},
        rows_in=validated.height,
        rows_out=result.frame.height,
        metrics={"ops": len(report)},
        notes=[r.message for r in result.reports],
    )


def _split(ctx: StepContext, clean: pl.DataFrame) -> StepOutput:
    from conveyor.data.split import split_frame

    cfg = ctx.config
    seed = cfg.split.seed if cfg.split.seed is not None else cfg.seed
    result = split_frame(clean, cfg.split, target=cfg.target, task=cfg.task, seed=seed)
    sizes = {
        "train": result.train.height,
        "validation": result.validation.height,
        "test": result.test.height,
    }
    return StepOutput(
        outputs={
            "train": result.train,
            "validation": result.validation,
            "test": result.test,
            "split_report": result.report,
        },
        rows_in=clean.height,
        rows_out=sum(sizes.values()),
        metrics={"sizes": sizes},
        notes=[
            f"{cfg.split.method}: train {sizes['train']:,} / validation {sizes['validation']:,} / "
            f"test {sizes['test']:,}"
        ],
    )


def _as_dict(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj


def _validate_files(cfg: ConveyorConfig, root: Path) -> list[Path]:
    return [root / cfg.validate_.schema_path]


DATA_STEPS: tuple[Step, ...] = (
    Step(
        name="collect",
        fn=_collect,
        inputs=(),
        outputs={"raw": "dataset"},
        version="1",
        config_section=_collect_section,
        external_files=_source_files,
        cacheable=_collect_cacheable,
        description="read every source into one dataset version",
    ),
    Step(
        name="validate",
        fn=_validate,
        inputs=("raw",),
        outputs={"validated": "frame", "rejects": "frame", "validation_report": "json"},
        version="1",
        config_section=lambda cfg: cfg.validate_,
        external_files=_validate_files,
        description="enforce schema.yaml (inferred on the first run)",
    ),
    Step(
        name="clean",
        fn=_clean,
        inputs=("validated",),
        outputs={"clean": "frame", "clean_report": "json"},
        version="1",
        config_section=lambda cfg: cfg.clean,
        description="apply the cleaning operations in order",
    ),
    Step(
        name="split",
        fn=_split,
        inputs=("clean",),
        outputs={"train": "frame", "validation": "frame", "test": "frame", "split_report": "json"},
        version="1",
        config_section=lambda cfg: cfg.split,
        description="split into train / validation / test",
    ),
)
