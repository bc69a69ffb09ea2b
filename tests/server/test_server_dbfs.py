"""The DBFS API (/api/2.0/dbfs/*) over the workspace's DBFS root: the real databricks-sdk
(w.dbfs.upload/download/list/mkdirs/delete/move_) against a live server, and the documented
error codes of databricks.sdk.service.files.DbfsAPI over HTTP."""

from __future__ import annotations

import base64
import io
import os

import pytest

from tests.server.conftest import bearer

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(resp, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code, body
    return body["message"]


def test_sdk_dbfs_round_trip(workspace, live_server, tokens, settings):
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.errors import NotFound, ResourceAlreadyExists

    w = workspace  # alice
    payload = os.urandom(2 * MB + 12345)  # three add-block calls of at most 1 MB
    w.dbfs.mkdirs("/tmp/alice/in")
    w.dbfs.upload("dbfs:/tmp/alice/in/big.bin", io.BytesIO(payload))
    assert (settings.home / "dbfs" / "tmp" / "alice" / "in" / "big.bin").read_bytes() == payload  # where dbutils.fs reads
    assert w.dbfs.download("/tmp/alice/in/big.bin").read() == payload
    status = w.dbfs.get_status("/tmp/alice/in/big.bin")
    assert (status.path, status.is_dir, status.file_size) == ("/tmp/alice/in/big.bin", False, len(payload))
    assert status.modification_time and status.modification_time > 0

    with pytest.raises(ResourceAlreadyExists):
        w.dbfs.upload("/tmp/alice/in/big.bin", io.BytesIO(b"other"))
    w.dbfs.upload("/tmp/alice/in/big.bin", io.BytesIO(b"small"), overwrite=True)
    assert w.dbfs.download("/tmp/alice/in/big.bin").read() == b"small"
    w.dbfs.put("/tmp/alice/in/note.txt", contents=_b64(b"hello"))

    listed = {(f.path, f.is_dir) for f in w.dbfs.list("/tmp/alice")}
    assert listed == {("/tmp/alice/in", True)}
    deep = sorted(f.path for f in w.dbfs.list("/tmp/alice", recursive=True))
    assert deep == ["/tmp/alice/in/big.bin", "/tmp/alice/in/note.txt"]
    assert [f.path for f in w.dbfs.list("/tmp/alice/in/note.txt")] == ["/tmp/alice/in/note.txt"]  # a file lists itself

    # DBFS is the workspace's shared root: any authenticated user reads and writes it.
    bob = WorkspaceClient(host=live_server.url, token=tokens.bob)
    assert bob.dbfs.download("/tmp/alice/in/note.txt").read() == b"hello"

    w.dbfs.move_("/tmp/alice/in", "/tmp/alice/out")  # a directory moves with everything in it
    assert sorted(f.path for f in w.dbfs.list("/tmp/alice/out")) == ["/tmp/alice/out/big.bin",
                                                                       "/tmp/alice/out/note.txt"]
    assert not w.dbfs.exists("/tmp/alice/in")
    with pytest.raises(NotFound):
        w.dbfs.get_status("/tmp/alice/in/note.txt")
    with pytest.raises(IOError, match="recursive"):
        w.dbfs.delete("/tmp/alice/out")  # the SDK asks for recursive on a directory
    w.dbfs.delete("/tmp/alice/out", recursive=True)
    assert not w.dbfs.exists("/tmp/alice/out")
    assert list(w.dbfs.list("/tmp/alice")) == []


def test_read_offsets_lengths_and_limits(client, tokens):
    h = bearer(tokens.alice)
    data = bytes(range(256)) * 10
    assert client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/d/f.bin", "contents": _b64(data)}).status_code == 200
    read = client.get("/api/2.0/dbfs/read", headers=h, params={"path": "dbfs:/d/f.bin", "offset": 100, "length": 50})
    assert read.json() == {"bytes_read": 50, "data": _b64(data[100:150])}
    tail = client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin", "offset": 2500, "length": 500}).json()
    assert tail == {"bytes_read": 60, "data": _b64(data[2500:])}  # offset + length past the end reads to the end
    assert client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin", "offset": 9999}).json()["bytes_read"] == 0
    whole = client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin"}).json()  # default length 0.5 MB
    assert base64.b64decode(whole["data"]) == data

    _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin", "length": MB + 1}),
           400, "MAX_READ_SIZE_EXCEEDED")
    _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin", "offset": -1}),
           400, "INVALID_PARAMETER_VALUE")
    _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/f.bin", "length": -1}),
           400, "INVALID_PARAMETER_VALUE")
    _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d"}), 400, "INVALID_PARAMETER_VALUE")
    _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": "/d/nope"}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_put_and_blocks_are_capped_at_one_megabyte(client, tokens):
    h = bearer(tokens.alice)
    big = _b64(b"x" * (MB + 1))
    _error(client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/p/big", "contents": big}),
           400, "MAX_BLOCK_SIZE_EXCEEDED")
    handle = client.post("/api/2.0/dbfs/create", headers=h, json={"path": "/p/big"}).json()["handle"]
    _error(client.post("/api/2.0/dbfs/add-block", headers=h, json={"handle": handle, "data": big}),
           400, "MAX_BLOCK_SIZE_EXCEEDED")
    # Exactly 1 MB is allowed, in a put and in a block.
    assert client.post("/api/2.0/dbfs/put", headers=h,
                       json={"path": "/p/exact", "contents": _b64(b"y" * MB)}).status_code == 200
    assert client.post("/api/2.0/dbfs/add-block", headers=h,
                       json={"handle": handle, "data": _b64(b"z" * MB)}).status_code == 200
    _error(client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/p/bad", "contents": "not base64!"}),
           400, "INVALID_PARAMETER_VALUE")
    _error(client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/p/exact", "contents": _b64(b"1")}),
           409, "RESOURCE_ALREADY_EXISTS")
    assert client.post("/api/2.0/dbfs/put", headers=h,
                       json={"path": "/p/exact", "contents": _b64(b"1"), "overwrite": True}).status_code == 200
    # Multipart form post (no 1 MB cap there, the server's body limit applies).
    multipart = client.post("/api/2.0/dbfs/put", headers=h, data={"path": "/p/form.bin", "overwrite": "false"},
                            files={"contents": ("form.bin", b"w" * (MB + 10))})
    assert multipart.status_code == 200, multipart.text
    assert client.get("/api/2.0/dbfs/get-status", headers=h, params={"path": "/p/form.bin"}).json()["file_size"] == MB + 10


def test_streams_belong_to_their_creator_and_appear_on_close(client, tokens):
    alice, bob = bearer(tokens.alice), bearer(tokens.bob)
    handle = client.post("/api/2.0/dbfs/create", headers=alice, json={"path": "/s/out.txt"}).json()["handle"]
    assert client.post("/api/2.0/dbfs/add-block", headers=alice, json={"handle": handle, "data": _b64(b"one ")}).status_code == 200
    # Nothing is at the path before close: a stream cut off never leaves a partial file.
    _error(client.get("/api/2.0/dbfs/get-status", headers=alice, params={"path": "/s/out.txt"}),
           404, "RESOURCE_DOES_NOT_EXIST")
    # Another user cannot write to, or close, alice's stream.
    _error(client.post("/api/2.0/dbfs/add-block", headers=bob, json={"handle": handle, "data": _b64(b"evil")}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/close", headers=bob, json={"handle": handle}), 404, "RESOURCE_DOES_NOT_EXIST")
    client.post("/api/2.0/dbfs/add-block", headers=alice, json={"handle": handle, "data": _b64(b"two")})
    assert client.post("/api/2.0/dbfs/close", headers=alice, json={"handle": handle}).status_code == 200
    read = client.get("/api/2.0/dbfs/read", headers=alice, params={"path": "/s/out.txt"}).json()
    assert base64.b64decode(read["data"]) == b"one two"
    _error(client.post("/api/2.0/dbfs/close", headers=alice, json={"handle": handle}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/add-block", headers=alice, json={"handle": 12345, "data": ""}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/create", headers=alice, json={"path": "/s/out.txt"}), 409, "RESOURCE_ALREADY_EXISTS")
    _error(client.post("/api/2.0/dbfs/create", headers=alice, json={"path": "/s"}), 409, "RESOURCE_ALREADY_EXISTS")


def test_directories_delete_and_move_errors(client, tokens):
    h = bearer(tokens.alice)
    client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/m/a/file", "contents": _b64(b"a")})
    _error(client.post("/api/2.0/dbfs/mkdirs", headers=h, json={"path": "/m/a/file/sub"}), 409, "RESOURCE_ALREADY_EXISTS")
    _error(client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/m/a/file/x", "contents": ""}),
           409, "RESOURCE_ALREADY_EXISTS")
    assert client.post("/api/2.0/dbfs/mkdirs", headers=h, json={"path": "/m/a"}).status_code == 200  # idempotent
    assert client.get("/api/2.0/dbfs/list", headers=h, params={"path": "/m/empty-not-there"}).status_code == 404
    client.post("/api/2.0/dbfs/mkdirs", headers=h, json={"path": "/m/empty"})
    assert client.get("/api/2.0/dbfs/list", headers=h, params={"path": "/m/empty"}).json() == {}
    _error(client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/m/a"}), 400, "IO_ERROR")
    _error(client.post("/api/2.0/dbfs/move", headers=h, json={"source_path": "/m/nope", "destination_path": "/m/x"}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/move", headers=h, json={"source_path": "/m/a", "destination_path": "/m/empty"}),
           409, "RESOURCE_ALREADY_EXISTS")
    _error(client.post("/api/2.0/dbfs/move", headers=h, json={"source_path": "/m/a", "destination_path": "/m/a/in"}),
           400, "INVALID_PARAMETER_VALUE")
    assert client.post("/api/2.0/dbfs/move", headers=h,
                       json={"source_path": "/m/a/file", "destination_path": "dbfs:/m/b/moved"}).status_code == 200
    assert client.get("/api/2.0/dbfs/get-status", headers=h, params={"path": "/m/b/moved"}).json()["file_size"] == 1
    assert client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/m/a"}).status_code == 200  # empty now
    assert client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/m/a"}).status_code == 200  # already gone
    _error(client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/", "recursive": True}),
           400, "INVALID_PARAMETER_VALUE")


def test_paths_stay_in_the_dbfs_root(client, tokens, settings, tmp_path):
    h = bearer(tokens.bob)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "server-secret").write_text("do not read")
    root = settings.home / "dbfs"
    root.mkdir(parents=True, exist_ok=True)
    (root / "escape").symlink_to(outside)
    (root / "home-link").symlink_to(settings.home)
    (root / "loop").symlink_to(root / "loop")
    for path in ("/escape/server-secret", "/home-link/workspace.db", "/home-link/.server-secret"):
        _error(client.get("/api/2.0/dbfs/get-status", headers=h, params={"path": path}), 404, "RESOURCE_DOES_NOT_EXIST")
        _error(client.get("/api/2.0/dbfs/read", headers=h, params={"path": path}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.get("/api/2.0/dbfs/list", headers=h, params={"path": "/escape"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/put", headers=h, json={"path": "/escape/planted", "contents": _b64(b"x")}),
           400, "INVALID_PARAMETER_VALUE")
    _error(client.post("/api/2.0/dbfs/mkdirs", headers=h, json={"path": "/escape/dir"}), 400, "INVALID_PARAMETER_VALUE")
    _error(client.post("/api/2.0/dbfs/move", headers=h,
                       json={"source_path": "/escape/server-secret", "destination_path": "/stolen"}),
           404, "RESOURCE_DOES_NOT_EXIST")
    assert client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/escape/server-secret"}).status_code == 200
    assert (outside / "server-secret").read_text() == "do not read"
    assert client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/escape", "recursive": True}).status_code == 200
    assert not (root / "escape").exists() and (outside / "server-secret").exists()  # the link went, not its target
    listed = client.get("/api/2.0/dbfs/list", headers=h, params={"path": "/"}).json().get("files", [])
    assert [f["path"] for f in listed] == []  # home-link reaches outside the root: not listed
    _error(client.get("/api/2.0/dbfs/get-status", headers=h, params={"path": "/loop/x"}), 404, "RESOURCE_DOES_NOT_EXIST")
    _error(client.post("/api/2.0/dbfs/mkdirs", headers=h, json={"path": "/loop/x"}), 400, "INVALID_PARAMETER_VALUE")
    assert client.post("/api/2.0/dbfs/delete", headers=h, json={"path": "/loop"}).status_code == 200
    assert not (root / "loop").is_symlink()
    for bad in ("../etc/passwd", "/a/../../etc/passwd", "relative/path", "/Volumes/c/s/v/f", "/d" * 129,
                "/" + "/".join(["n" * 200] * 25)):
        _error(client.get("/api/2.0/dbfs/get-status", headers=h, params={"path": bad}), 400, "INVALID_PARAMETER_VALUE")
    assert not list(outside.glob("planted"))


def test_dbfs_needs_a_token(client):
    assert client.get("/api/2.0/dbfs/list", params={"path": "/"}).status_code == 401
    _error(client.post("/api/2.0/dbfs/put", json={"path": "/x", "contents": ""}), 401, "UNAUTHENTICATED")
