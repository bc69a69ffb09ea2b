"""Every API route refuses missing, wrong, revoked and expired tokens with a Databricks
UNAUTHENTICATED body; public routes stay public; errors never carry tracebacks."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from healthmon.store import auth
from tests.server.conftest import bearer

PUBLIC = {"/healthz", "/.well-known/databricks-config", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}


def _api_routes(app):
    # The OpenAPI document lists every API operation the server has.
    for path, ops in app.openapi()["paths"].items():
        if path.startswith("/api/") and path not in PUBLIC:
            for method in ops:
                yield method.upper(), path


def _bad_credentials(db):
    with db.session() as s:
        revoked = auth.create_token(s, "alice@example.com")
        expired = auth.create_token(s, "alice@example.com", lifetime_seconds=60)
    with db.session() as s:
        auth.revoke_token(s, revoked.info["token_id"])
        s.execute(update(auth.TokenRecord).where(auth.TokenRecord.token_id == expired.info["token_id"]).values(expiry_time=1))
    return {
        "missing": {},
        "wrong": bearer("dapi" + "0" * 32),
        "revoked": bearer(revoked.token_value),
        "expired": bearer(expired.token_value),
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty bearer": {"Authorization": "Bearer "},
    }


def test_every_api_route_refuses_bad_tokens(app, client, db):
    routes = sorted(set(_api_routes(app)))
    assert len(routes) >= 14 * 3 + 4  # all Jobs API versions plus workspace routes
    for label, headers in _bad_credentials(db).items():
        for method, path in routes:
            kwargs = {"json": {"job_id": 1, "run_id": 1}} if method == "POST" else {"params": {"job_id": 1, "run_id": 1}}
            resp = client.request(method, path, headers=headers, **kwargs)
            assert resp.status_code == 401, (label, method, path, resp.text)
            if method == "HEAD":  # no body
                assert resp.headers["www-authenticate"] == "Bearer"
                continue
            body = resp.json()
            assert body["error_code"] == "UNAUTHENTICATED", (label, path)
            assert set(body) == {"error_code", "message"}


def test_public_routes_need_no_token(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    meta = client.get("/.well-known/databricks-config").json()
    assert re.fullmatch(r"\d+", meta["workspace_id"])
    doc = client.get("/api/openapi.json").json()
    assert "/api/2.2/jobs/runs/list" in doc["paths"]


def test_scim_me_names_the_caller(client, tokens):
    me = client.get("/api/2.0/preview/scim/v2/Me", headers=bearer(tokens.bob)).json()
    assert me["userName"] == "bob@example.com"
    assert {g["display"] for g in me["groups"]} == {"users", "data-eng"}
    me = client.get("/api/2.0/preview/scim/v2/Me", headers=bearer(tokens.admin)).json()
    assert me["userName"] == "tester@example.com"


def test_token_api_create_list_delete(client, tokens):
    created = client.post("/api/2.0/token/create", headers=bearer(tokens.alice), json={"comment": "api", "lifetime_seconds": 600})
    assert created.status_code == 200
    new = created.json()
    assert client.get("/api/2.0/preview/scim/v2/Me", headers=bearer(new["token_value"])).json()["userName"] == "alice@example.com"
    listed = client.get("/api/2.0/token/list", headers=bearer(tokens.alice)).json()["token_infos"]
    assert new["token_info"]["token_id"] in {t["token_id"] for t in listed}
    assert all("token_value" not in t for t in listed)
    # bob cannot revoke alice's token
    other = client.post("/api/2.0/token/delete", headers=bearer(tokens.bob), json={"token_id": new["token_info"]["token_id"]})
    assert other.status_code == 404
    assert client.post("/api/2.0/token/delete", headers=bearer(tokens.alice), json={"token_id": new["token_info"]["token_id"]}).status_code == 200
    assert client.get("/api/2.0/preview/scim/v2/Me", headers=bearer(new["token_value"])).status_code == 401


@pytest.mark.parametrize(
    "method,path,kwargs,status,code",
    [
        ("GET", "/api/2.2/jobs/get", {"params": {"job_id": "abc"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/get", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/runs/get", {"params": {"run_id": str(2**70)}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/runs/list", {"params": {"limit": -1}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/list", {"params": {"page_token": "garbage!"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/runs/list", {"params": {"active_only": "maybe"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.2/jobs/run-now", {"content": b"{not json"}, 400, "MALFORMED_REQUEST"),
        ("POST", "/api/2.2/jobs/run-now", {"json": [1, 2]}, 400, "MALFORMED_REQUEST"),
        ("POST", "/api/2.2/jobs/run-now", {"json": {"job_id": "x"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.2/jobs/run-now", {"json": {"job_id": 1, "job_parameters": {"a": [1]}}}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "/api/2.2/jobs/runs/cancel", {"json": {}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/api/2.2/jobs/nope", {}, 404, "ENDPOINT_NOT_FOUND"),
        ("DELETE", "/api/2.2/jobs/list", {}, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/api/2.2/jobs/create", {"content": b"x" * (10 * 1024 * 1024 + 1)}, 413, "REQUEST_ENTITY_TOO_LARGE"),
    ],
)
def test_bad_input_is_a_databricks_4xx(client, tokens, method, path, kwargs, status, code):
    resp = client.request(method, path, headers=bearer(tokens.admin), **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code
    assert "Traceback" not in body["message"] and 'File "' not in body["message"]
