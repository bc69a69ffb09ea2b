"""The Workspace API over the workspace tree and the Files API over volumes, through the real
databricks-sdk: list, get-status, import (JSON and the SDK's multipart upload), export and
download, mkdirs, delete; who may touch which path; Databricks error bodies for bad input."""

from __future__ import annotations

import base64
import io

import pytest

from tests.server.conftest import bearer, notebook

ALICE = "alice@example.com"
HOME = f"/Users/{ALICE}"


def test_sdk_workspace_calls(workspace, settings):
    from databricks.sdk.errors import NotFound, ResourceAlreadyExists
    from databricks.sdk.service.workspace import ExportFormat, ImportFormat, Language, ObjectType

    w = workspace  # alice
    w.workspace.mkdirs(f"{HOME}/project")
    w.workspace.import_(f"{HOME}/project/etl", content=base64.b64encode(b"print('etl')\n").decode(),
                        format=ImportFormat.SOURCE, language=Language.PYTHON)
    w.workspace.upload(f"{HOME}/project/conf.yml", io.BytesIO(b"a: 1\n"), format=ImportFormat.AUTO)
    with pytest.raises(ResourceAlreadyExists):
        w.workspace.upload(f"{HOME}/project/conf.yml", io.BytesIO(b"a: 2\n"), format=ImportFormat.AUTO)
    w.workspace.upload(f"{HOME}/project/conf.yml", io.BytesIO(b"a: 2\n"), format=ImportFormat.AUTO, overwrite=True)

    listed = {o.path: o for o in w.workspace.list(f"{HOME}/project")}
    assert set(listed) == {f"{HOME}/project/etl", f"{HOME}/project/conf.yml"}
    assert listed[f"{HOME}/project/etl"].object_type == ObjectType.NOTEBOOK
    assert listed[f"{HOME}/project/etl"].language == Language.PYTHON
    assert listed[f"{HOME}/project/conf.yml"].object_type == ObjectType.FILE
    status = w.workspace.get_status(f"/Workspace{HOME}/project")
    assert status.object_type == ObjectType.DIRECTORY and status.path == f"{HOME}/project"

    exported = w.workspace.export(f"{HOME}/project/etl", format=ExportFormat.SOURCE)
    source = base64.b64decode(exported.content).decode()
    assert source.startswith("# Databricks notebook source") and "print('etl')" in source
    assert w.workspace.download(f"{HOME}/project/conf.yml").read() == b"a: 2\n"
    # The imported notebook is what a job runs.
    assert (settings.home / "workspace" / "Users" / ALICE / "project" / "etl.py").is_file()

    with pytest.raises(NotFound):
        w.workspace.get_status(f"{HOME}/nothing-here")
    recursive = sorted(o.path for o in w.workspace.list(HOME, recursive=True))
    assert recursive == [f"{HOME}/project/conf.yml", f"{HOME}/project/etl"]
    w.workspace.delete(f"{HOME}/project/etl")
    w.workspace.delete(f"{HOME}/project", recursive=True)
    assert list(w.workspace.list(HOME)) == []


def test_folders_and_errors(client, tokens):
    h = bearer(tokens.alice)
    assert client.post("/api/2.0/workspace/mkdirs", headers=h, json={"path": f"{HOME}/a/b"}).status_code == 200
    assert client.post("/api/2.0/workspace/import", headers=h, json={
        "path": f"{HOME}/a/b/f.txt", "format": "RAW", "content": base64.b64encode(b"x").decode()}).status_code == 200
    not_empty = client.post("/api/2.0/workspace/delete", headers=h, json={"path": f"{HOME}/a"})
    assert (not_empty.status_code, not_empty.json()["error_code"]) == (400, "DIRECTORY_NOT_EMPTY")
    in_the_way = client.post("/api/2.0/workspace/mkdirs", headers=h, json={"path": f"{HOME}/a/b/f.txt/c"})
    assert in_the_way.status_code == 409 and in_the_way.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    no_parent = client.post("/api/2.0/workspace/import", headers=h, json={
        "path": f"{HOME}/missing/f.txt", "format": "RAW", "content": "eA=="})
    assert (no_parent.status_code, no_parent.json()["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    cases = [
        ("POST", "/api/2.0/workspace/import", {"json": {"path": f"{HOME}/x", "format": "SOURCE", "content": "eA=="}}, "language"),
        ("POST", "/api/2.0/workspace/import", {"json": {"path": f"{HOME}/x", "format": "RAW", "content": "%%%"}}, "base64"),
        ("POST", "/api/2.0/workspace/import", {"json": {"path": "relative/x", "format": "RAW"}}, "absolute"),
        ("GET", "/api/2.0/workspace/get-status", {"params": {"path": f"{HOME}/../bob@example.com"}}, "'..'"),
        ("GET", "/api/2.0/workspace/export", {"params": {"path": f"{HOME}/a/b/f.txt", "format": "PDF"}}, "format must be"),
        ("POST", "/api/2.0/workspace/delete", {"json": {"path": HOME, "recursive": True}}, "home folder"),
    ]
    for method, path, kwargs, fragment in cases:
        resp = client.request(method, path, headers=h, **kwargs)
        body = resp.json()
        assert resp.status_code == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE", (path, kwargs, body)
        assert fragment in body["message"], (fragment, body)
    # Databricks formats the local workspace does not reproduce: 501 FEATURE_DISABLED, not a 400.
    for method, path, kwargs, fragment in [
        ("POST", "/api/2.0/workspace/import", {"json": {"path": f"{HOME}/x", "format": "DBC", "content": "eA=="}}, "DBC"),
        ("GET", "/api/2.0/workspace/export", {"params": {"path": f"{HOME}/a", "format": "SOURCE"}}, "folder"),
    ]:
        resp = client.request(method, path, headers=h, **kwargs)
        assert (resp.status_code, resp.json()["error_code"]) == (501, "FEATURE_DISABLED"), (path, resp.json())
        assert fragment in resp.json()["message"]


def test_other_users_homes_are_out_of_reach(client, tokens, settings):
    """Task code lives in the tree: bob may neither read nor write alice's home (her jobs run
    what is there), and a refusal does not say whether a path exists."""
    notebook(settings, ALICE, "private", "print('mine')")
    bob = bearer(tokens.bob)
    messages: dict[str, set[str]] = {}
    for path in (f"{HOME}/private", f"{HOME}/absent"):
        for method, url, kwargs in [
            ("GET", "/api/2.0/workspace/get-status", {"params": {"path": path}}),
            ("GET", "/api/2.0/workspace/export", {"params": {"path": path}}),
            ("GET", "/api/2.0/workspace/list", {"params": {"path": path}}),
            ("POST", "/api/2.0/workspace/import", {"json": {"path": path, "format": "SOURCE", "language": "PYTHON",
                                                            "content": "eA==", "overwrite": True}}),
            ("POST", "/api/2.0/workspace/delete", {"json": {"path": path}}),
            ("POST", "/api/2.0/workspace/mkdirs", {"json": {"path": path + "/x"}}),
        ]:
            resp = client.request(method, url, headers=bob, **kwargs)
            body = resp.json()
            assert (resp.status_code, body["error_code"]) == (403, "PERMISSION_DENIED"), (method, url, path, body)
            assert "does not have" in body["message"]
            messages.setdefault(path, set()).add(body["message"].replace(path, "P"))
    assert messages[f"{HOME}/private"] == messages[f"{HOME}/absent"]  # nothing tells them apart
    assert "print('mine')" in (settings.home / "workspace" / "Users" / ALICE / "private.py").read_text()
    # Listings show bob only what he may see; /Shared is everyone's.
    assert client.post("/api/2.0/workspace/mkdirs", headers=bob, json={"path": "/Shared/team"}).status_code == 200
    users = client.get("/api/2.0/workspace/list", headers=bob, params={"path": "/Users"}).json()
    assert users.get("objects", []) == []
    root = [o["path"] for o in client.get("/api/2.0/workspace/list", headers=bob, params={"path": "/"}).json()["objects"]]
    assert root == ["/Shared", "/Users"]
    admin = client.get("/api/2.0/workspace/list", headers=bearer(tokens.admin), params={"path": "/Users"}).json()
    assert [o["path"] for o in admin["objects"]] == [HOME]


def test_files_api_over_volumes(workspace, client, tokens, monkeypatch, settings):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound

    monkeypatch.setenv("DATABRICKS_TOKEN", tokens.admin)
    w = WorkspaceClient()  # the admin: volume grants are not modelled, volumes are admins'
    path = "/Volumes/main/raw/landing/in/data.csv"
    w.files.upload(path, io.BytesIO(b"a,b\n1,2\n"))
    assert (settings.home / "volumes" / "main" / "raw" / "landing" / "in" / "data.csv").read_bytes() == b"a,b\n1,2\n"
    assert w.files.download(path).contents.read() == b"a,b\n1,2\n"
    assert w.files.get_metadata(path).content_length == 8
    entries = list(w.files.list_directory_contents("/Volumes/main/raw/landing/in"))
    assert [(e.name, e.is_directory, e.file_size) for e in entries] == [("data.csv", False, 8)]
    w.files.create_directory("/Volumes/main/raw/landing/empty")
    w.files.get_directory_metadata("/Volumes/main/raw/landing/empty")
    w.files.delete_directory("/Volumes/main/raw/landing/empty")
    w.files.delete(path)
    with pytest.raises(NotFound):
        w.files.get_metadata(path)
    # Anyone else: refused, whatever the path.
    for url in ("/api/2.0/fs/files/Volumes/main/raw/landing/in/data.csv", "/api/2.0/fs/directories/Volumes/main/raw/landing"):
        resp = client.get(url, headers=bearer(tokens.alice))
        assert resp.status_code == 403 and resp.json()["error_code"] == "PERMISSION_DENIED"
    bad = client.get("/api/2.0/fs/files/etc/passwd", headers=bearer(tokens.admin))
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    escape = client.get("/api/2.0/fs/files/Volumes/a/b/c/../../../../etc/passwd", headers=bearer(tokens.admin))
    assert escape.status_code in (400, 404)


def test_overlong_names_are_a_400(client, tokens):
    name = "n" * 300
    for method, url, kwargs, token in [
        ("GET", "/api/2.0/workspace/get-status", {"params": {"path": f"{HOME}/{name}"}}, tokens.alice),
        ("POST", "/api/2.0/workspace/mkdirs", {"json": {"path": f"{HOME}/{name}"}}, tokens.alice),
        ("GET", f"/api/2.0/fs/files/Volumes/a/b/c/{name}", {}, tokens.admin),
    ]:
        resp = client.request(method, url, headers=bearer(token), **kwargs)
        assert resp.status_code == 400 and resp.json()["error_code"] == "INVALID_PARAMETER_VALUE", resp.text
