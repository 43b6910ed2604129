"""``conveyor models …``, ``conveyor predict``, ``conveyor tune``, ``conveyor reproduce``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from conveyor.cli._console import console, fmt_time, open_project, print_json

models_app = typer.Typer(
    help="Registered model versions, aliases and their history.", no_args_is_help=True
)
_CONFIG = typer.Option("--config", "-c", help="conveyor.yaml or project directory.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command("predict")(predict_cmd)
    app.command("tune")(tune_cmd)
    app.command("reproduce")(reproduce_cmd)


@models_app.command("list")
def list_cmd(
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every registered model with its versions and aliases."""
    from rich.table import Table

    with open_project(config) as project:
        models = project.registry.list_models()
    if json_out:
        print_json(
            [
                {
                    "name": m.name,
                    "versions": m.versions,
                    "latest_version": m.latest_version,
                    "aliases": m.aliases,
                    "updated_at": m.updated_at,
                }
                for m in models
            ]
        )
        return
    table = Table(title="models", title_justify="left")
    for col in ("model", "versions", "latest", "aliases", "updated"):
        table.add_column(col)
    for m in models:
        aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(
            m.name, str(m.versions), f"v{m.latest_version}", aliases, fmt_time(m.updated_at)
        )
    console().print(table)


@models_app.command("show")
def show_cmd(
    ref: Annotated[
        str, typer.Argument(help="churn (champion), churn@challenger, churn:3 or churn:v3.")
    ],
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One model version: status, aliases, metrics, gates, lineage; or all versions of a model."""
    from rich.table import Table
    from rich.text import Text

    with open_project(config) as project:
        registry = project.registry
        if ":" in ref or "@" in ref:
            versions = [registry.resolve(ref)]
        else:
            versions = registry.list_versions(ref)
    if json_out:
        print_json([_version_dict(v) for v in versions])
        return
    con = console()
    if len(versions) > 1:
        table = Table(title=f"versions of {versions[0].model_name}", title_justify="left")
        for col in ("version", "status", "aliases", "created", "run", "metrics"):
            table.add_column(col)
        for v in versions:
            metrics = ", ".join(
                f"{k} {val:.4f}" for k, val in list(_numbers(v.metrics).items())[:3]
            )
            table.add_row(
                f"v{v.version}",
                v.status,
                ", ".join(v.aliases),
                fmt_time(v.created_at),
                v.run_id or "",
                metrics,
            )
        con.print(table)
        return
    v = versions[0]
    con.print(
        Text(
            f"{v.model_name} v{v.version}  {v.status}  aliases: {', '.join(v.aliases) or '-'}",
            style="bold",
        )
    )
    for label, value in (
        ("created", fmt_time(v.created_at)),
        ("run", v.run_id),
        ("dataset", v.dataset_version),
        ("git commit", v.git_commit),
        ("config", v.config_fingerprint),
        ("bundle", v.bundle_digest),
        ("description", v.description),
        ("tags", ", ".join(f"{k}={t}" for k, t in v.tags.items())),
    ):
        if value:
            con.print(Text(f"  {label:<12} {value}"))
    table = Table(title="metrics (test split)", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, val in _numbers(v.metrics).items():
        table.add_row(k, f"{val:.4f}")
    con.print(table)
    gates = v.gates or {}
    for r in gates.get("results", []) if isinstance(gates, dict) else []:
        mark = "pass" if r.get("passed") else "FAIL"
        con.print(
            Text(
                f"  gate {r.get('metric')} {r.get('op')} {r.get('threshold')}: {r.get('value')} {mark}"
            )
        )


@models_app.command("compare")
def compare_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    a: Annotated[str, typer.Argument(help="Version or alias.")],
    b: Annotated[str, typer.Argument(help="Version or alias.")],
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Metrics of two versions side by side, with the difference."""
    from rich.table import Table

    with open_project(config) as project:
        result = project.registry.compare(name, a, b)
    if json_out:
        print_json(result)
        return
    table = Table(
        title=f"{name}: {result['a']['version'] if isinstance(result['a'], dict) else a} vs "
        f"{result['b']['version'] if isinstance(result['b'], dict) else b}",
        title_justify="left",
    )
    for col in ("metric", str(a), str(b), "delta"):
        table.add_column(col, justify="right")
    for metric, row in result["metrics"].items():
        table.add_row(metric, *[_fmt(row.get(k)) for k in ("a", "b", "delta")])
    console().print(table)


@models_app.command("promote")
def promote_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version (3 or v3).")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the history.")] = "promoted by hand",
    force: Annotated[bool, typer.Option(help="Promote even a rejected version.")] = False,
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Make a version the champion."""
    with open_project(config) as project:
        v = project.registry.promote(name, version, reason=reason, actor=_actor(), force=force)
    console().print(f"{name} v{v.version} is now champion")


@models_app.command("rollback")
def rollback_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[
        str, typer.Option(help="Why; recorded in the history.")
    ] = "rolled back by hand",
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Move champion back to the previous champion."""
    with open_project(config) as project:
        v = project.registry.rollback(name, reason=reason, actor=_actor())
    console().print(f"{name}: champion rolled back to v{v.version}")


@models_app.command("alias")
def alias_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[
        str, typer.Argument(help="Alias: challenger, staging, or any lowercase name.")
    ],
    version: Annotated[
        str | None, typer.Argument(help="Version (3 or v3) or another alias; omit with --remove.")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the alias.")] = False,
    reason: Annotated[str, typer.Option(help="Why; recorded in the history.")] = "set by hand",
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Point an alias at a version, or remove it (champion moves through promote/rollback)."""
    from conveyor.errors import ConfigError

    if remove == (version is not None):
        raise ConfigError(
            "models alias: give a VERSION to set the alias, or --remove (not both)",
            hint=f"conveyor models alias {name} {alias} 3   |   conveyor models alias {name} {alias} --remove",
        )
    with open_project(config) as project:
        if remove:
            was = project.registry.remove_alias(name, alias, reason=reason, actor=_actor())
            console().print(f"{name}@{alias} removed (it pointed at v{was})")
            return
        assert version is not None
        v = project.registry.set_alias(name, alias, version, reason=reason, actor=_actor())
    console().print(f"{name}@{alias} -> v{v.version}")


@models_app.command("tag")
def tag_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="Version or alias.")],
    tags: Annotated[list[str], typer.Argument(help="KEY=VALUE pairs.")],
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Attach KEY=VALUE tags to a version."""
    from conveyor.errors import ConfigError

    with open_project(config) as project:
        for item in tags:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"tag '{item}': expected KEY=VALUE")
            v = project.registry.tag(name, version, key.strip(), value.strip())
    console().print(f"{name} v{v.version}: tags {', '.join(f'{k}={t}' for k, t in v.tags.items())}")


@models_app.command("history")
def history_cmd(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str | None, typer.Option(help="Only moves of this alias.")] = None,
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Every alias move: when, from which version to which, why, by whom."""
    from rich.table import Table

    with open_project(config) as project:
        moves = project.registry.history(name, alias)
    if json_out:
        print_json([m.__dict__ for m in moves])
        return
    table = Table(title=f"history of {name}", title_justify="left")
    for col in ("when", "alias", "action", "from", "to", "by", "reason"):
        table.add_column(col)
    for m in moves:
        table.add_row(
            fmt_time(m.at),
            m.alias,
            m.action,
            _v(m.from_version),
            _v(m.to_version),
            m.actor,
            m.reason,
        )
    console().print(table)


def predict_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="churn@champion, churn:3 or churn.")],
    input_path: Annotated[
        str, typer.Option("--input", "-i", help="CSV, TSV, Parquet, JSON or JSONL file.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Where to write: .csv or .parquet.")
    ],
    config: Annotated[str | None, _CONFIG] = None,
) -> None:
    """Score a file in-process with a registered model version."""
    with open_project(config) as project:
        result = project.predict(model, input_path, output)
    console().print(
        f"scored {result['rows']:,} rows with {result['model']} ({result['engine']}) -> {output}"
    )


def tune_cmd(
    config: Annotated[
        str | None, typer.Argument(help="conveyor.yaml or project directory.")
    ] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Tune only these candidates.")
    ] = None,
    override: Annotated[list[str] | None, typer.Option("--override", "-o")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Run hyperparameter tuning alone (data steps are reused from the cache)."""
    from conveyor.cli._reporter import RichReporter

    with open_project(config, override) as project:
        result = project.tune(models=model or None, reporter=RichReporter(quiet=json_out))
        best = result.load("tuning")
    if json_out:
        print_json({"run_id": result.id, "status": result.status, "tuning": best})
        return
    for name, doc in best.items():
        console().print(
            f"{name}: best {doc['metric']} {doc['best_value']:.4f} after {doc['n_trials']} trials: "
            f"{doc['best_params']}"
        )
    console().print(f"recorded on run {result.id}")


def reproduce_cmd(
    run_id: Annotated[
        str, typer.Argument(help="The run to reproduce (a unique prefix is enough).")
    ],
    config: Annotated[str | None, _CONFIG] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-run a past run with its dataset version, config and seeds; compare the metrics."""
    with open_project(config) as project:
        report = project.reproduce(run_id)
    if json_out:
        print_json(report)
        return
    con = console()
    con.print(
        f"reproduced {report['original']} as {report['run_id']}: "
        + ("identical metrics" if report["identical"] else "METRICS DIFFER")
    )
    for key, (a, b) in report["differences"].items():
        con.print(f"  {key}: {a} -> {b}")
    if not report["identical"]:
        raise typer.Exit(1)


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _v(version: int | None) -> str:
    return "-" if version is None else f"v{version}"


def _actor() -> str:
    import getpass

    try:
        return f"user:{getpass.getuser()}"
    except Exception:
        return "user"


def _version_dict(v: Any) -> dict[str, Any]:
    return {
        "model": v.model_name,
        "version": v.version,
        "status": v.status,
        "aliases": list(v.aliases),
        "run_id": v.run_id,
        "dataset_version": v.dataset_version,
        "git_commit": v.git_commit,
        "config_fingerprint": v.config_fingerprint,
        "bundle_digest": v.bundle_digest,
        "manifest_digest": v.manifest_digest,
        "metrics": v.metrics,
        "gates": v.gates,
        "description": v.description,
        "tags": v.tags,
        "created_at": v.created_at,
    }
