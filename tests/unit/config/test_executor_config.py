"""The ``executor`` section: local by default, Dask with a scheduler address or a local cluster."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from conveyor.config.loader import parse_config
from conveyor.config.models import ExecutorConfig
from conveyor.errors import ConfigError

BASE = """
project: p
task: binary
target: y
data: {sources: [{path: d.csv}]}
"""


def test_defaults_are_local() -> None:
    config = ExecutorConfig()
    assert (config.type, config.address, config.n_workers) == ("local", None, None)
    assert (config.threads_per_worker, config.connect_timeout_s) == (1, 10.0)


@pytest.mark.parametrize(
    "address", ["tcp://10.0.0.5:8786", "tls://scheduler.example:8786", "tcp://[::1]:8786"]
)
def test_scheduler_addresses(address: str) -> None:
    assert ExecutorConfig(type="dask", address=address, connect_timeout_s=2).address == address


def test_local_cluster_sizing() -> None:
    config = ExecutorConfig(type="dask", n_workers=4, threads_per_worker=2, memory_limit="4GiB")
    assert (config.n_workers, config.threads_per_worker, config.memory_limit) == (4, 2, "4GiB")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"address": "tcp://h:8786"}, "address applies to 'type: dask' only"),
        ({"n_workers": 2, "memory_limit": "1GiB"}, "n_workers, memory_limit apply to 'type: dask'"),
        ({"type": "dask", "address": "h:8786"}, "'h:8786' is not a Dask scheduler address"),
        ({"type": "dask", "address": "http://h:8786"}, "expected tcp://host:port"),
        ({"type": "dask", "address": "tcp://h:1", "n_workers": 2}, "size a local cluster"),
        ({"type": "dask", "n_workers": 0}, "greater than or equal to 1"),
        ({"type": "dask", "threads_per_worker": 0}, "greater than or equal to 1"),
        ({"type": "dask", "connect_timeout_s": 0}, "greater than 0"),
        ({"type": "spark"}, "'local' or 'dask'"),
        ({"type": "dask", "adress": "tcp://h:1"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_executor_sections(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExecutorConfig(**fields)


def test_bad_address_in_a_file_names_the_key(tmp_path) -> None:
    text = BASE + "executor:\n  type: dask\n  address: localhost:8786\n"
    with pytest.raises(ConfigError, match=r"executor.*not a Dask scheduler address"):
        parse_config(text, source=tmp_path / "conveyor.yaml")


def test_executor_in_a_file() -> None:
    text = BASE + "executor: {type: dask, address: 'tcp://sched:8786', connect_timeout_s: 3}\n"
    loaded = parse_config(text)
    assert loaded.config.executor.address == "tcp://sched:8786"
    assert loaded.config.executor.connect_timeout_s == 3.0
