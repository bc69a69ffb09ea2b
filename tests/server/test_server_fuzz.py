"""Property-based fuzzing of every operation in the OpenAPI document (schemathesis strategies
driven by hypothesis), with schemathesis' response checks on: with a valid token, no generated
request may produce a 5xx; every response matches the schema the document declares for it (the
typed models of ``server.responses`` for successes, the Databricks error body otherwise) and its
content type."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from healthmon.jobs import service
from tests.server.conftest import bearer

# Operations that start runner processes on valid input: fuzzed against a job with no tasks
# (run-now is then refused by the runtime) and with few examples.
SPAWNING = ("/run-now", "/runs/submit", "/runs/repair")
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_no_5xx_and_responses_match_the_schema(app, tokens):
    service.create_job({"name": "fuzz target", "tasks": []}, user_name="tester@example.com")
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = bearer(tokens.admin)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/runs/submit"):
            continue  # valid submits run arbitrary tasks; covered by its own tests
        examples = 4 if operation.path.endswith(SPAWNING) else 8

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
        def check(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400 and case.method != "HEAD":
                body = response.json()
                assert set(body) == {"error_code", "message"}, body
                assert "Traceback" not in body["message"]

        check()
        checked += 1
    assert checked >= 60


def test_every_operation_declares_typed_responses(app):
    """Every API operation documents its success body with a schema (not an empty one) and its
    errors as the Databricks error body."""
    doc = app.openapi()
    untyped = []
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if method == "head":
                continue
            ok = responses.get("200", {}).get("content", {})
            schema = next(iter(ok.values()), {}).get("schema", {})
            if not schema or schema == {}:
                untyped.append((method, path))
            if path.startswith("/api/"):
                assert responses["default"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            assert "422" not in responses
    assert untyped == []


def test_response_enums_match_the_sdk():
    """The enum values in the response models are the SDK's (copied to keep the SDK out of the
    server's start-up)."""
    import importlib
    import typing

    from healthmon.server import responses

    for name, (module, enum_name) in responses.SDK_ENUMS.items():
        sdk_enum = getattr(importlib.import_module(f"databricks.sdk.service.{module}"), enum_name)
        assert set(typing.get_args(getattr(responses, name))) == {e.value for e in sdk_enum}, name
