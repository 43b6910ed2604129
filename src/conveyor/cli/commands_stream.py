"""``conveyor stream``: score a Redis Stream or NATS JetStream subject continuously."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from conveyor.cli._console import console, open_project


class Backend(StrEnum):
    """Stream transports."""

    redis = "redis"
    nats = "nats"


_DEFAULT_URL = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}


def register(app: typer.Typer) -> None:
    app.command("stream")(stream_cmd)


def stream_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="churn@champion, churn:3 or churn.")],
    input_name: Annotated[
        str, typer.Option("--input", "-i", help="Redis stream key or NATS subject to consume.")
    ],
    backend: Annotated[Backend, typer.Option("--backend", help="redis or nats.")] = Backend.redis,
    url: Annotated[
        str | None,
        typer.Option(
            "--url", help="Server URL (default redis://127.0.0.1:6379/0 or nats://…:4222)."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", help="Result stream/subject (default <input>:scored / .scored)."
        ),
    ] = None,
    dead_letter: Annotated[
        str | None,
        typer.Option(
            "--dead-letter", help="Dead-letter stream/subject (default <input>:dead / .dead)."
        ),
    ] = None,
    group: Annotated[
        str, typer.Option("--group", help="Consumer group (Redis) or durable consumer (NATS).")
    ] = "conveyor",
    consumer: Annotated[
        str | None, typer.Option("--consumer", help="Consumer name (Redis; default host-pid).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Messages per batch.")
    ] = 64,
    block_ms: Annotated[
        int, typer.Option("--block-ms", min=1, help="How long one read waits for messages.")
    ] = 500,
    claim_idle_ms: Annotated[
        int,
        typer.Option(
            "--claim-idle-ms",
            min=1,
            help="Redis: take over messages another consumer left unacked this long.",
        ),
    ] = 60_000,
    ack_wait: Annotated[
        float,
        typer.Option(
            "--ack-wait", min=0.1, help="NATS: seconds before an unacked message is redelivered."
        ),
    ] = 30.0,
    log_predictions: Annotated[
        bool,
        typer.Option(
            "--log/--no-log",
            help="Write every prediction to the project's prediction log (for monitoring).",
        ),
    ] = True,
    project_dir: Annotated[
        str | None,
        typer.Option("--project", "-C", help="Project directory (or its conveyor.yaml)."),
    ] = None,
) -> None:
    """Score messages from a stream until SIGTERM/SIGINT (then finish the batch, ack, exit 0).

    Each message is one JSON record (Redis: the entry's ``data`` field). Results
    go to the output with the source id; messages that cannot be scored go to
    the dead-letter output with the reason. Acknowledged only after both are written.
    """
    import asyncio
    import tempfile
    from pathlib import Path

    from conveyor.registry import fetch_bundle

    err = console(stderr=True)
    with open_project(project_dir) as project:
        version = project.registry.resolve(model)
        with tempfile.TemporaryDirectory(prefix="conveyor-stream-") as tmp:
            loaded = fetch_bundle(project.artifacts, version, Path(tmp) / "bundle")
            runtime = loaded.runtime()
            transport = _backend(
                backend.value,
                url or _DEFAULT_URL[backend.value],
                input_name,
                output=output,
                dead_letter=dead_letter,
                group=group,
                consumer=consumer,
                ack_wait=ack_wait,
            )
            plog = project.open_prediction_log() if log_predictions else None
            try:
                stats = asyncio.run(
                    _serve(
                        transport,
                        runtime,
                        model=version.model_name,
                        version=version.version,
                        batch_size=batch_size,
                        block_ms=block_ms,
                        claim_idle_ms=claim_idle_ms,
                        prediction_log=plog,
                        announce=lambda: err.print(
                            f"streaming {input_name} ({backend.value}) with {version.ref} "
                            f"[{runtime.engine}] -> {getattr(transport, 'output', '')}; ready"
                        ),
                    )
                )
            finally:
                if plog is not None:
                    plog.close()  # flushes every logged row
    err.print(
        f"stopped: {stats.read:,} message(s) read, {stats.scored:,} scored, "
        f"{stats.dead:,} dead-lettered"
    )


def _backend(kind: str, url: str, name: str, *, group: str, consumer: str | None, **opts: Any):
    if kind == "redis":
        from conveyor.serve._stream_redis import RedisStreamBackend

        return RedisStreamBackend(
            url,
            name,
            group=group,
            consumer=consumer,
            output=opts["output"],
            dead_letter=opts["dead_letter"],
        )
    from conveyor.serve._stream_nats import NatsStreamBackend

    return NatsStreamBackend(
        url,
        name,
        durable=group,
        output=opts["output"],
        dead_letter=opts["dead_letter"],
        ack_wait_s=opts["ack_wait"],
    )


async def _serve(transport: Any, runtime: Any, *, claim_idle_ms: int, announce: Any, **kw: Any):
    import asyncio
    import signal

    from conveyor.serve.stream import run_stream

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await transport.connect()
    try:
        announce()
        return await run_stream(transport, runtime, stop=stop, reclaim_idle_ms=claim_idle_ms, **kw)
    finally:
        await transport.close()
