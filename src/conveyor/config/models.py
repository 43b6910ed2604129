"""Typed, frozen models of ``conveyor.yaml``.

Every section is a pydantic model with ``extra="forbid"`` so that a misspelt
key is an error, not a silently ignored setting. Later capabilities add their
section here as an optional field of :class:`ConveyorConfig` with a default,
so that older configs keep validating.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, JsonValue, field_validator, model_validator

from conveyor.config._monitoring import (
    AgentConfig,
    AlertsConfig,
    MonitorConfig,
    TriggerConfig,
)
from conveyor.config._section import Section

__all__ = [
    "AgentConfig",
    "AlertsConfig",
    "CleanOp",
    "ConveyorConfig",
    "DataConfig",
    "EvaluateConfig",
    "ExecutorConfig",
    "FeaturesConfig",
    "ModelSpec",
    "MonitorConfig",
    "PaginationConfig",
    "PromotionConfig",
    "Section",
    "ServeConfig",
    "SourceConfig",
    "SplitConfig",
    "StoresConfig",
    "TriggerConfig",
    "TuneConfig",
    "ValidateConfig",
]


# ---------------------------------------------------------------- data sources


class PaginationConfig(Section):
    """How an HTTP JSON API pages its results."""

    type: Literal["none", "page", "offset", "cursor", "next_link"] = "none"
    page_param: str = "page"
    start_page: int = 1
    size_param: str | None = None
    page_size: int | None = Field(default=None, gt=0)
    offset_param: str = "offset"
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    cursor_path: str | None = Field(
        default=None, description="Dotted path to the next cursor in the response body."
    )
    next_path: str | None = Field(
        default=None,
        description="Dotted path to the next page URL in the body; "
        "when unset the Link header (rel=next) is used.",
    )
    max_pages: int = Field(default=10_000, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PaginationConfig:
        if self.type == "cursor" and not self.cursor_path:
            raise ValueError(
                "pagination type 'cursor' needs 'cursor_path' (where the next cursor is in the body)"
            )
        return self


class SourceConfig(Section):
    """One place data is collected from.

    ``type`` is inferred from ``path`` when omitted (``.csv`` -> csv, …).
    """

    name: str = "main"
    type: Literal["csv", "tsv", "parquet", "json", "jsonl", "excel", "sql", "http"] | None = None
    path: str | None = Field(default=None, description="File path or glob, relative to the config.")
    # csv / tsv
    delimiter: str | None = None
    encoding: str = "utf8"
    has_header: bool = True
    null_values: list[str] = Field(default_factory=lambda: [""])
    skip_rows: int = Field(default=0, ge=0)
    # excel
    sheet: str | int | None = None
    # sql
    url: str | None = Field(default=None, description="SQLAlchemy URL (sql) or endpoint (http).")
    table: str | None = None
    query: str | None = None
    # http
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    records_path: str | None = Field(
        default=None, description="Dotted path to the list of records in each response."
    )
    pagination: PaginationConfig = Field(default_factory=PaginationConfig)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    backoff_s: float = Field(default=0.5, ge=0)
    # all
    columns: list[str] | None = Field(default=None, description="Keep only these columns.")
    add_file_column: str | None = Field(
        default=None, description="For globs: name of a column holding each row's file name."
    )

    @model_validator(mode="after")
    def _check_kind(self) -> SourceConfig:
        kind = self.resolved_type
        if kind in {"csv", "tsv", "parquet", "json", "jsonl", "excel"} and not self.path:
            raise ValueError(f"a {kind} source needs 'path'")
        if kind == "sql":
            if not self.url:
                raise ValueError("a sql source needs 'url' (a SQLAlchemy URL)")
            if bool(self.table) == bool(self.query):
                raise ValueError("a sql source needs exactly one of 'table' or 'query'")
        if kind == "http" and not self.url:
            raise ValueError("an http source needs 'url'")
        if kind is None:
            raise ValueError(
                "cannot tell the source type: set 'type' (csv, tsv, parquet, json, jsonl, "
                "excel, sql, http) or give a 'path' with a known extension"
            )
        return self

    @property
    def resolved_type(self) -> str | None:
        if self.type:
            return self.type
        if self.path:
            lower = self.path.lower()
            for suffix, kind in (
                (".csv", "csv"),
                (".csv.gz", "csv"),
                (".tsv", "tsv"),
                (".parquet", "parquet"),
                (".pq", "parquet"),
                (".jsonl", "jsonl"),
                (".ndjson", "jsonl"),
                (".json", "json"),
                (".xlsx", "excel"),
            ):
                if lower.endswith(suffix):
                    return kind
        if self.url and (self.url.startswith("http://") or self.url.startswith("https://")):
            return "http"
        if self.url and (self.table or self.query):
            return "sql"
        return None


class DataConfig(Section):
    sources: list[SourceConfig] = Field(min_length=1)
    combine: Literal["concat", "first"] = Field(
        default="concat", description="How several sources become one dataset."
    )
    include_feedback: bool = False

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"source names must be unique; repeated: {sorted(dup)}")
        return sources


# ---------------------------------------------------------------- validate / clean / split


class ValidateConfig(Section):
    enabled: bool = True
    schema_path: str = Field(default="schema.yaml", alias="schema")
    on_violation: Literal["fail", "warn", "drop_rows"] = "fail"
    allow_extra_columns: bool = False
    check_ranges: bool = True
    check_categories: bool = True
    max_categories: int = Field(
        default=50, gt=0, description="Above this a string column is free text."
    )
    null_rate_tolerance: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Allowed rise of a column's null rate over the schema's.",
    )
    range_tolerance: float = Field(
        default=0.0, ge=0, description="Relative slack on numeric ranges (0.1 = 10% of the span)."
    )


class DropDuplicates(Section):
    op: Literal["drop_duplicates"]
    subset: list[str] | None = None
    keep: Literal["first", "last"] = "first"


class DropMissing(Section):
    op: Literal["drop_missing"]
    columns: list[str] | None = Field(
        default=None, description="Rows missing any of these; default all."
    )
    column_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Drop columns whose missing share is above this."
    )


class FillMissing(Section):
    op: Literal["fill_missing"]
    strategy: Literal["constant", "median", "mean", "mode"] = "median"
    value: Any = None
    columns: list[str] | None = None

    @model_validator(mode="after")
    def _needs_value(self) -> FillMissing:
        if self.strategy == "constant" and self.value is None:
            raise ValueError("strategy 'constant' needs 'value'")
        return self


class RepairTypes(Section):
    op: Literal["repair_types"]
    columns: dict[str, Literal["float", "int", "bool", "date", "datetime", "str"]] | None = Field(
        default=None, description="Explicit target types; when unset, types are detected."
    )
    date_formats: list[str] = Field(
        default_factory=lambda: ["%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y"]
    )
    min_share: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Detect a type when this share of non-null values parse.",
    )


class NormalizeStrings(Section):
    op: Literal["normalize_strings"]
    columns: list[str] | None = None
    trim: bool = True
    case: Literal["lower", "upper", "keep"] = "keep"
    empty_as_null: bool = True


class ClipOutliers(Section):
    op: Literal["clip_outliers"]
    columns: list[str] | None = None
    lower: float = Field(default=0.01, ge=0, le=1)
    upper: float = Field(default=0.99, ge=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> ClipOutliers:
        if self.lower >= self.upper:
            raise ValueError(f"'lower' ({self.lower}) must be below 'upper' ({self.upper})")
        return self


class DropColumns(Section):
    op: Literal["drop_columns"]
    columns: list[str]


CleanOp = Annotated[
    DropDuplicates
    | DropMissing
    | FillMissing
    | RepairTypes
    | NormalizeStrings
    | ClipOutliers
    | DropColumns,
    Field(discriminator="op"),
]


class SplitConfig(Section):
    method: Literal["random", "stratified", "time", "group"] = "stratified"
    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.15, ge=0, lt=1)
    test: float = Field(default=0.15, gt=0, lt=1)
    time_column: str | None = None
    group_column: str | None = None
    seed: int | None = Field(default=None, description="Defaults to the project seed.")

    @model_validator(mode="after")
    def _check(self) -> SplitConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"train + validation + test must sum to 1; got {self.train} + "
                f"{self.validation} + {self.test} = {total:g}"
            )
        if self.method == "time" and not self.time_column:
            raise ValueError("method 'time' needs 'time_column'")
        if self.method == "group" and not self.group_column:
            raise ValueError("method 'group' needs 'group_column'")
        return self


# ---------------------------------------------------------------- features / models


class NumericFeatures(Section):
    impute: Literal["median", "mean", "constant", "none"] = "median"
    fill_value: float = 0.0
    add_indicator: bool = False
    scale: Literal["standard", "minmax", "robust", "none"] = "standard"
    transform: Literal["none", "log", "power"] = "none"
    bins: int | None = Field(default=None, ge=2, description="Quantile bins instead of raw values.")
    bins_encode: Literal["onehot", "ordinal"] = Field(
        default="onehot",
        description="How quantile bins are encoded: one column per bin, or the bin index.",
    )


class CategoricalFeatures(Section):
    impute: Literal["most_frequent", "constant", "none"] = "constant"
    fill_value: str = "__missing__"
    encode: Literal["onehot", "ordinal", "target", "hashing"] = "onehot"
    max_categories: int | None = Field(default=20, ge=2)
    min_frequency: int | float | None = None
    hash_features: int = Field(default=32, ge=2)


class TextFeatures(Section):
    analyzer: Literal["word", "char", "char_wb"] = "word"
    ngram_range: tuple[int, int] = (1, 2)
    max_features: int | None = Field(default=20_000, gt=0)
    min_df: int | float = 2
    lowercase: bool = True
    sublinear_tf: bool = True


DatetimePart = Literal["year", "month", "day", "dayofweek", "hour", "dayofyear", "age_days"]


class DatetimeFeatures(Section):
    parts: list[DatetimePart] = Field(
        default_factory=lambda: ["year", "month", "dayofweek"],
        description="'age_days': days from the value to age_reference (or to the latest training date).",
    )
    cyclical: bool = Field(
        default=True, description="Month, day of week and hour as sin/cos pairs."
    )
    age_reference: str | None = Field(
        default=None,
        description="Column to measure age in days against; implies the 'age_days' part.",
    )


class UserTransformer(Section):
    transformer: str = Field(description="Import path 'package.module:Class'.")
    columns: list[str]
    params: dict[str, Any] = Field(default_factory=dict)


class FeaturesConfig(Section):
    numeric: list[str] | None = Field(
        default=None, description="Numeric columns; detected if unset."
    )
    categorical: list[str] | None = None
    text: list[str] | None = None
    datetime: list[str] | None = None
    drop: list[str] = Field(default_factory=list)
    derived: dict[str, str] = Field(
        default_factory=dict, description="name -> expression, e.g. 'total / (tenure + 1)'."
    )
    numeric_options: NumericFeatures = Field(
        default_factory=NumericFeatures, alias="numeric_defaults"
    )
    categorical_options: CategoricalFeatures = Field(
        default_factory=CategoricalFeatures, alias="categorical_defaults"
    )
    text_options: TextFeatures = Field(default_factory=TextFeatures, alias="text_defaults")
    datetime_options: DatetimeFeatures = Field(
        default_factory=DatetimeFeatures, alias="datetime_defaults"
    )
    per_column: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-column overrides of the defaults above."
    )
    custom: list[UserTransformer] = Field(default_factory=list)
    sparse_threshold: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Keep the feature matrix sparse (text) when its density is below this; 0 = always dense.",
    )


class SearchParam(Section):
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> SearchParam:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
        else:
            if self.low is None or self.high is None:
                raise ValueError(f"a {self.type} parameter needs 'low' and 'high'")
            if self.low > self.high:
                raise ValueError(f"'low' ({self.low:g}) is greater than 'high' ({self.high:g})")
            if self.log and self.low <= 0:
                raise ValueError(f"a log-scaled range needs 'low' > 0; got {self.low:g}")
        return self


class TuneConfig(Section):
    n_trials: int | None = Field(default=20, gt=0)
    timeout_s: float | None = Field(default=None, gt=0)
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: Literal["median", "none"] = "median"
    cv: int | None = Field(
        default=None, ge=2, description="k-fold CV instead of the validation split."
    )
    n_jobs: int = Field(default=1, ge=1)
    space: dict[str, SearchParam] = Field(default_factory=dict)


class ModelSpec(Section):
    name: str | None = None
    estimator: str = Field(
        description="Short name (lightgbm, xgboost, logistic_regression, …) or 'pkg.module:Class'."
    )
    params: dict[str, Any] = Field(default_factory=dict)
    tune: TuneConfig | None = None
    early_stopping_rounds: int | None = Field(default=50, ge=1)
    class_weight: Literal["balanced"] | None = None

    @property
    def label(self) -> str:
        return self.name or self.estimator.rsplit(":", 1)[-1].rsplit(".", 1)[-1]


class EvaluateConfig(Section):
    primary_metric: str | None = Field(
        default=None,
        description="Default: roc_auc (binary), f1_macro (multiclass), rmse (regression).",
    )
    gates: dict[str, str] = Field(default_factory=dict, description="metric -> '>= 0.8'")
    threshold: Literal["default", "max_f1"] | str = Field(
        default="max_f1",
        description="'default' (0.5), 'max_f1', or 'precision>=0.8' / 'recall>=0.7'.",
    )
    cv_folds: int | None = Field(default=5, ge=2)
    slices: list[str] = Field(default_factory=list)
    permutation_importance: bool = True
    overfit_gap: float = Field(
        default=0.1, ge=0, description="Warn when train - test primary metric exceeds this."
    )


class PromotionConfig(Section):
    model_name: str | None = Field(
        default=None, description="Registry name; default: project name."
    )
    auto: bool = True
    min_delta: float = 0.0
    alias: str = "champion"


# ---------------------------------------------------------------- serving


class CanaryConfig(Section):
    """Send a stable share of requests to the model the challenger alias names."""

    alias: str = Field(min_length=1, description="Alias of the challenger, e.g. challenger.")
    traffic: float = Field(default=0.1, ge=0.0, le=1.0, description="Share sent to the challenger.")
    key_field: str | None = Field(
        default=None,
        description="Record field whose value routes the record (the X-Request-Key header wins).",
    )


class ShadowConfig(Section):
    """Score the challenger on every request without returning its answer."""

    alias: str = Field(min_length=1, description="Alias of the challenger, e.g. challenger.")


class FallbackAnswer(Section):
    """A constant answer: a class label, or a value for regression."""

    label: str | int | bool | None = None
    value: float | None = None

    @model_validator(mode="after")
    def _one_answer(self) -> FallbackAnswer:
        if (self.label is None) == (self.value is None):
            raise ValueError("give exactly one of 'label' or 'value'")
        return self


class FallbackRule(FallbackAnswer):
    """``when`` (an expression over the record) -> this answer; the first match wins."""

    when: str = Field(min_length=1, description="e.g. contract == 'Month-to-month' and tenure < 6")


class FallbackConfig(Section):
    """What to answer when the model fails, is too slow or is unsure.

    Sources are tried in order: ``rules`` (first match), the ``previous_version``
    of the champion, then ``constant``.
    """

    latency_budget_ms: float | None = Field(default=None, gt=0.0)
    min_confidence: float | None = Field(
        default=None, ge=0.0, description="Fall back when the top class probability is below."
    )
    constant: FallbackAnswer | None = None
    rules: list[FallbackRule] = Field(default_factory=list)
    previous_version: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.constant or self.rules or self.previous_version)


class BatchingConfig(Section):
    """Micro-batching of concurrent ``/v1/predict`` requests (see docs/serving.md)."""

    enabled: bool = True
    max_wait_ms: float = Field(
        default=2.0,
        ge=0.0,
        le=1000.0,
        description="Longest a request waits for others to share its batch; a lone request "
        "on an idle server is scored at once.",
    )
    max_batch: int = Field(
        default=64, ge=1, description="Most records per batch; larger requests are scored alone."
    )


class ServeConfig(Section):
    """How ``conveyor serve`` answers requests."""

    model: str | None = Field(
        default=None,
        description="Model reference to serve (e.g. churn@champion); default: "
        "<promotion.model_name>@<promotion.alias>.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_body_bytes: int = Field(default=1_000_000, gt=0)
    max_batch: int = Field(default=1000, ge=1)
    strict_categories: bool = True
    strict_ranges: bool = False
    extra: Literal["ignore", "reject"] = "ignore"
    reload_interval_s: float = Field(
        default=2.0, ge=0.0, description="How often the alias is polled; 0 turns hot reload off."
    )
    log_predictions: bool = True
    switch_interval_ms: float = Field(
        default=0.5,
        gt=0.0,
        le=100.0,
        description="Python's thread switch interval in the server (default 5 ms): shorter "
        "bounds how long the background writers can hold up a request (tail latency).",
    )
    heartbeat_s: float = Field(
        default=5.0,
        ge=0.0,
        description="How often the server reports itself in the store's deployments; 0: never.",
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    canary: CanaryConfig | None = None
    shadow: ShadowConfig | None = None
    fallback: FallbackConfig = Field(default_factory=FallbackConfig)

    @model_validator(mode="after")
    def _one_challenger(self) -> ServeConfig:
        if self.canary and self.shadow and self.canary.alias != self.shadow.alias:
            raise ValueError(
                f"canary.alias {self.canary.alias!r} and shadow.alias {self.shadow.alias!r} "
                "differ: the server holds one challenger; use the same alias"
            )
        return self

    @property
    def challenger_alias(self) -> str | None:
        section = self.canary or self.shadow
        return section.alias if section else None


# ---------------------------------------------------------------- infrastructure


class StoresConfig(Section):
    """Where runs, artifacts and logged predictions are kept.

    ``storage_options`` are the fsspec options of every URL here
    (``s3://bucket/prefix``): ``endpoint_url`` for an S3-compatible server,
    ``key`` / ``secret`` / ``token`` (best given as ``${env:…}``, and masked
    whenever the config is shown or stored), ``client_kwargs``,
    ``config_kwargs`` (e.g. ``{retries: {max_attempts: 2}}``).
    """

    metadata: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///.conveyor/conveyor.db, or CONVEYOR_DB_URL.",
    )
    artifacts: str | None = Field(
        default=None, description="fsspec URL; default .conveyor/artifacts"
    )
    predictions: str | None = Field(
        default=None,
        description="Prediction log: a directory (relative to the project) or an fsspec URL "
        "such as s3://bucket/prefix/predictions; default .conveyor/predictions.",
    )
    storage_options: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="fsspec options for the URLs above: endpoint_url, key, secret, "
        "client_kwargs, config_kwargs… (key, secret and token are masked when shown).",
    )

    SECRET_OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {"key", "secret", "token", "password", "access_key", "secret_key", "session_token",
         "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "account_key",
         "sas_token", "client_secret", "connection_string"}
    )  # fmt: skip
    """Option names whose values are credentials (masked wherever the config is shown)."""

    def secret_paths(self) -> set[tuple[str, ...]]:
        """Config paths of the credential values in ``storage_options`` (at any depth).

        Example:
            >>> StoresConfig(storage_options={"key": "AKIA", "endpoint_url": "http://s3"}).secret_paths()
            {('stores', 'storage_options', 'key')}
        """
        found: set[tuple[str, ...]] = set()

        def walk(value: Any, path: tuple[str, ...]) -> None:
            if isinstance(value, dict):
                for name, inner in value.items():
                    if name.lower() in self.SECRET_OPTIONS and inner is not None:
                        found.add((*path, name))
                    walk(inner, (*path, name))

        walk(self.storage_options, ("stores", "storage_options"))
        return found


class ExecutorConfig(Section):
    """Where the heavy work runs: in this process (``local``) or on a Dask cluster.

    ``type: dask`` with an ``address`` (``tcp://scheduler:8786``) connects to an
    existing cluster; without one, a local cluster of ``n_workers`` processes
    (default 2) with ``threads_per_worker`` threads each is started for the
    command and stopped after it. See docs/scale-out.md.

    Example:
        >>> ExecutorConfig(type="dask", address="tcp://10.0.0.5:8786").address
        'tcp://10.0.0.5:8786'
    """

    ADDRESS_SCHEMES: ClassVar[tuple[str, ...]] = ("tcp://", "tls://", "ucx://", "ws://", "wss://")

    type: Literal["local", "dask"] = "local"
    address: str | None = Field(
        default=None, description="Dask scheduler address (tcp://host:8786); none: a local cluster."
    )
    n_workers: int | None = Field(
        default=None, ge=1, description="Worker processes of a local cluster (default 2)."
    )
    threads_per_worker: int = Field(
        default=1, ge=1, description="Threads per worker process of a local cluster."
    )
    memory_limit: str | None = Field(
        default=None,
        description="Memory per worker of a local cluster ('4GiB', 'auto'); default: Dask's.",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="How long to wait for the scheduler before failing."
    )

    @model_validator(mode="after")
    def _check(self) -> ExecutorConfig:
        if self.type == "local":
            set_keys = [
                k for k in ("address", "n_workers", "memory_limit") if getattr(self, k) is not None
            ]
            if set_keys:
                verb = "applies" if len(set_keys) == 1 else "apply"
                raise ValueError(f"{', '.join(set_keys)} {verb} to 'type: dask' only")
            return self
        if self.address is not None:
            if not self.address.startswith(self.ADDRESS_SCHEMES):
                raise ValueError(
                    f"address {self.address!r} is not a Dask scheduler address; expected "
                    f"{' or '.join(s + 'host:port' for s in self.ADDRESS_SCHEMES[:2])}"
                )
            if self.n_workers is not None or self.memory_limit is not None:
                raise ValueError(
                    "n_workers and memory_limit size a local cluster; with an address the "
                    "scheduler's cluster is used as it is"
                )
        return self


class ConveyorConfig(Section):
    """The whole of ``conveyor.yaml``."""

    version: Literal[1] = 1
    project: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    task: Literal["binary", "multiclass", "regression"]
    target: str
    id_column: str | None = None
    positive_class: str | int | bool | None = Field(
        default=None, description="For binary tasks: the label of the positive class."
    )
    seed: int = 42
    data: DataConfig
    validate_: ValidateConfig = Field(default_factory=ValidateConfig, alias="validate")
    clean: list[CleanOp] = Field(default_factory=list)
    split: SplitConfig = Field(default_factory=SplitConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    models: list[ModelSpec] = Field(default_factory=list)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)
    stores: StoresConfig = Field(default_factory=StoresConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    triggers: list[TriggerConfig] = Field(default_factory=list)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    secrets: list[str] = Field(
        default_factory=list, description="Dotted key paths whose values are masked when shown."
    )

    @model_validator(mode="after")
    def _check(self) -> ConveyorConfig:
        if self.split.method == "stratified" and self.task == "regression":
            raise ValueError("split.method 'stratified' needs a classification task; use 'random'")
        names = [m.label for m in self.models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model names must be unique; repeated: {sorted(dup)} (set 'name')")
        triggers = [t.name for t in self.triggers]
        dup = {n for n in triggers if triggers.count(n) > 1}
        if dup:
            raise ValueError(f"trigger names must be unique; repeated: {sorted(dup)}")
        return self

    @property
    def model_name(self) -> str:
        return self.promotion.model_name or self.project
