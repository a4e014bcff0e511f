"""The whole OpenAPI document, fuzzed: requests drawn from every operation's own schema (and
wrong on purpose now and then: other types, unknown fields, ids that are no ids, no or bad
keys), sent to the API over a World. Whatever comes: no 5xx, every answer declared for its
route and valid against its schema, and a refused request changes nothing.

schemathesis would pull newer Starlette and hypothesis from PyPI over Debian's; Debian's
python3-hypothesis and python3-jsonschema do it here in a page.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.support import ID_A, ID_B, ID_C, World
from tests.unit.web_support import Api, make_api

STREAMS = ("/stream",)  # endless answers: tests/unit/test_web_sse.py
REFS = "#/components/schemas/"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
IDS = st.sampled_from([ID_A, ID_B, ID_C, "default", "not-an-id", "../../etc", "0" * 36])
TEXT = st.text(max_size=12) | st.sampled_from(["1h", "15m", "example", "Max Players", "read"])


def plain(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI 3.0 schema as JSON Schema: references inlined, `nullable` spelled out."""
    if "$ref" in schema:
        return plain(doc["components"]["schemas"][schema["$ref"].removeprefix(REFS)], doc)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if isinstance(value, dict) and key in ("items", "additionalProperties"):
            out[key] = plain(value, doc)
        elif key == "properties":
            out[key] = {k: plain(v, doc) for k, v in value.items()}
        elif key in ("anyOf", "oneOf", "allOf"):
            out[key] = [plain(v, doc) for v in value]
        elif key != "nullable":
            out[key] = value
    if schema.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def strategy(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a JSON Schema: mostly valid, sometimes not."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([strategy(s) for s in schema[key]])
    if "allOf" in schema:
        return strategy(schema["allOf"][0])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 20), 20)
        return st.text(min_size=low, max_size=max(low, high)) | TEXT
    if kind == "integer":
        return st.integers(schema.get("minimum", -5), schema.get("maximum", 100_000))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(strategy(schema.get("items", {})), max_size=3)
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        fixed = {k: strategy(v) for k, v in props.items() if k in required}
        optional = {k: strategy(v) for k, v in props.items() if k not in required}
        if "dir" in optional:
            optional["dir"] = st.none()  # a directory the fuzz could make anywhere on the host
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and not props:
            return st.dictionaries(st.text(min_size=1, max_size=8), strategy(extra), max_size=3)
        return st.fixed_dictionaries(fixed, optional=optional)
    return JSON


def body(schema: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    if schema is None:
        return st.none()
    valid = strategy(schema)
    wrong = JSON | valid.map(lambda v: v | {"unknown": 1} if isinstance(v, dict) else v)
    return st.one_of(valid, valid, wrong)


def path_value(name: str) -> st.SearchStrategy[str]:
    return {
        "instance_id": IDS,
        "name": st.sampled_from(["read", "viewer", "x.tar.gz", "..", "offsite:abc"]) | TEXT,
        "option": st.sampled_from(["Max Players", "Map", "Nope"]),
    }.get(name, TEXT)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if not path.endswith(STREAMS)
    ]


def check(doc: dict[str, Any], op: dict[str, Any], r: Any) -> None:
    """The answer is one the operation declares, and fits its schema."""
    declared = op["responses"].get(str(r.status_code)) or op["responses"].get("default")
    assert declared is not None, f"{r.status_code} is not declared: {r.text[:300]}"
    if not r.headers.get("content-type", "").startswith("application/json"):
        return
    schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if schema:
        jsonschema.validate(r.json(), plain(schema, doc))


def settle(api: Api) -> None:
    """Operations started by one request finish before the next is judged."""
    ops = api.server._ctx.ops
    deadline = time.monotonic() + 20
    while any(o.state in ("queued", "running") for o in ops.all()):
        assert time.monotonic() < deadline, "an operation did not finish"
        time.sleep(0.01)


@pytest.fixture
def api(world: World, tmp_path: Path) -> Api:
    return make_api(world, tmp_path)


def test_no_request_drawn_from_the_schema_gets_a_5xx_an_undeclared_answer_or_a_change_if_refused(
    api: Api,
) -> None:
    doc = api.client.app.openapi()  # type: ignore[attr-defined]
    ops = operations(doc)
    assert len(ops) >= 35
    keys = st.sampled_from([None, "wrong", "read", "operate", "admin", "admin", "only-a"])

    @settings(
        max_examples=400, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )  # fmt: skip
    @given(st.data())
    def one(data: st.DataObject) -> None:
        method, path, op = data.draw(st.sampled_from(ops), label="operation")
        params = {p["name"]: p for p in op.get("parameters", [])}
        url = path.format(
            **{
                n: quote(data.draw(path_value(n), label=n), safe="")
                for n, p in params.items()
                if p["in"] == "path"
            }
        )
        query = {
            n: data.draw(strategy(plain(p.get("schema", {}), doc)), label=n)
            for n, p in params.items()
            if p["in"] == "query" and data.draw(st.booleans(), label=f"send {n}")
        }
        query = {k: v for k, v in query.items() if v is not None and not isinstance(v, dict)}
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        sent = data.draw(body(plain(content["schema"], doc) if content else None), label="body")
        key = data.draw(keys, label="key")
        before = api.state()
        r = api.call(method, url, key=key, params=query, json=sent)
        assert r.status_code < 500, (method, url, sent, r.status_code, r.text[:500])
        check(doc, op, r)
        if r.status_code >= 400:
            assert api.state() == before, (method, url, sent, r.status_code, r.text[:300])
            assert set(r.json()) >= {"error", "hint"}
        settle(api)

    one()
