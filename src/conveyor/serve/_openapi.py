"""The OpenAPI schema of the served model, built from its bundle signature.

``/docs`` shows the real request: field types, nullability, category enums,
required fields and an example built from the training data's ranges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from conveyor.serve.model_holder import ModelHolder

__all__ = ["feedback_openapi", "install_openapi", "predict_openapi", "record_schema"]


_JSON_TYPES = {
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
    "datetime": "string",
}


def record_schema(signature: Any) -> dict[str, Any]:
    """JSON Schema of one request record, from a bundle signature (types, enums, example)."""
    props: dict[str, Any] = {}
    example: dict[str, Any] = {}
    required: list[str] = []
    for f in signature.inputs:
        prop: dict[str, Any] = {
            "type": [_JSON_TYPES[f.type], "null"] if f.nullable else _JSON_TYPES[f.type]
        }
        if f.type == "datetime":
            prop["format"] = "date-time"
        if f.categories is not None:
            prop["enum"] = [*f.categories, *([None] if f.nullable else [])]
        if f.minimum is not None or f.maximum is not None:
            prop["description"] = f"training range {f.minimum} .. {f.maximum}"
        props[f.name] = prop
        if not f.nullable:
            required.append(f.name)
        example[f.name] = _example_value(f)
    return {"type": "object", "properties": props, "required": required, "example": example}


def _example_value(f: Any) -> Any:
    if f.categories:
        return f.categories[0]
    if (
        f.type in ("number", "integer")
        and isinstance(f.minimum, int | float)
        and isinstance(f.maximum, int | float)
    ):
        mid = (f.minimum + f.maximum) / 2
        return int(mid) if f.type == "integer" else round(mid, 2)
    return {"number": 0.0, "integer": 0, "boolean": False, "string": "text"}.get(f.type, f.minimum)


def predict_openapi(signature: Any, max_batch: int) -> dict[str, Any]:
    record = record_schema(signature) if signature is not None else {"type": "object"}
    schema = {
        "oneOf": [record, {"type": "array", "items": record, "minItems": 1, "maxItems": max_batch}]
    }
    content: dict[str, Any] = {"schema": schema}
    if "example" in record:
        content["example"] = record["example"]
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


def feedback_openapi() -> dict[str, Any]:
    schema = {
        "type": "object",
        "required": ["prediction_id", "actual"],
        "properties": {
            "prediction_id": {"type": "string"},
            "actual": {"type": ["string", "number", "boolean"]},
        },
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(app: FastAPI, holder: ModelHolder, max_batch: int) -> None:
    """Build /openapi.json from the signature of the model served when it is asked for."""
    from fastapi.openapi.utils import get_openapi

    cache: dict[Any, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        served = holder.current
        key = served.version.id if served is not None else None
        if key not in cache:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            if served is not None:
                post = schema["paths"]["/v1/predict"]["post"]
                post.update(predict_openapi(served.runtime.signature, max_batch))
                post["summary"] = f"Predict with {served.name} v{served.number}"
            cache.clear()
            cache[key] = schema
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]
