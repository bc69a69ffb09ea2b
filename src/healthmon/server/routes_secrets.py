"""The Secrets API (``/api/2.0/secrets/*``): scopes, secrets and per-scope ACLs, over
``healthmon.store.secrets`` (which checks the caller's READ / WRITE / MANAGE on the scope and keeps
values encrypted). Values go out only through ``secrets/get`` (base64, READ needed)."""

from __future__ import annotations

import base64
import binascii
from enum import Enum

from fastapi import APIRouter, Depends, Query, Request

from healthmon.server import responses
from healthmon.server.auth import require_principal
from healthmon.server.errors import invalid, not_supported
from healthmon.server.models import PutSecret, SecretAclBody, SecretAclRef, SecretRef, SecretScopeCreate, SecretScopeRef
from healthmon.server.responses import ok
from healthmon.store import secrets as store
from healthmon.store.auth import Principal

BASE = "/api/2.0/secrets"


def _name(max_length: int = 128):
    return Query(..., min_length=1, max_length=max_length)


def build_router() -> APIRouter:
    router = APIRouter()
    tag: list[str | Enum] = ["secrets"]

    @router.post(f"{BASE}/scopes/create", tags=tag, operation_id="secrets_create_scope", responses=ok(responses.Empty))
    def create_scope(body: SecretScopeCreate, request: Request, principal: Principal = Depends(require_principal)):
        """Create a scope; the caller manages it (``initial_manage_principal: users``: everyone)."""
        if body.scope_backend_type == "AZURE_KEYVAULT":
            raise not_supported("An AZURE_KEYVAULT-backed scope", "create a DATABRICKS scope")
        if body.scope_backend_type not in (None, "DATABRICKS"):
            raise invalid("scope_backend_type must be DATABRICKS or AZURE_KEYVAULT.")
        with request.app.state.db.session() as s:
            store.create_scope(
                s, body.scope, principal=principal, initial_manage_principal=body.initial_manage_principal
            )
        return {}

    @router.post(f"{BASE}/scopes/delete", tags=tag, operation_id="secrets_delete_scope", responses=ok(responses.Empty))
    def delete_scope(body: SecretScopeRef, request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            store.delete_scope(s, body.scope, principal=principal)
        return {}

    @router.get(
        f"{BASE}/scopes/list", tags=tag, operation_id="secrets_list_scopes", responses=ok(responses.ListScopesResponse)
    )
    def list_scopes(request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            names = store.list_scopes(s)
        return {"scopes": [{"name": n, "backend_type": "DATABRICKS"} for n in names]} if names else {}

    @router.post(f"{BASE}/put", tags=tag, operation_id="secrets_put", responses=ok(responses.Empty))
    def put_secret(body: PutSecret, request: Request, principal: Principal = Depends(require_principal)):
        """Store a secret (``string_value``, or base64 ``bytes_value``): WRITE on the scope."""
        value: str | bytes
        if body.string_value is not None and body.bytes_value is None:
            value = body.string_value
        elif body.bytes_value is not None and body.string_value is None:
            try:
                value = base64.b64decode(body.bytes_value, validate=True)
            except (binascii.Error, ValueError):
                raise invalid("bytes_value must be base64-encoded.") from None
        else:
            raise invalid("Give exactly one of string_value and bytes_value.")
        with request.app.state.db.session() as s:
            store.put_secret(s, body.scope, body.key, value, principal=principal)
        return {}

    @router.post(f"{BASE}/delete", tags=tag, operation_id="secrets_delete", responses=ok(responses.Empty))
    def delete_secret(body: SecretRef, request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            store.delete_secret(s, body.scope, body.key, principal=principal)
        return {}

    @router.get(f"{BASE}/list", tags=tag, operation_id="secrets_list", responses=ok(responses.ListSecretsResponse))
    def list_secrets(request: Request, scope: str = _name(), principal: Principal = Depends(require_principal)):
        """Keys and update times of a scope's secrets (never values): READ on the scope."""
        with request.app.state.db.session() as s:
            items = store.list_secrets(s, scope, principal=principal)
        return {"secrets": items} if items else {}

    @router.get(f"{BASE}/get", tags=tag, operation_id="secrets_get", responses=ok(responses.GetSecretResponse))
    def get_secret(request: Request, scope: str = _name(), key: str = _name(),
                   principal: Principal = Depends(require_principal)):
        """A secret's value, base64-encoded: READ on the scope."""
        with request.app.state.db.session() as s:
            value = store.get_secret_bytes(s, scope, key, principal=principal)
        return {"key": key, "value": base64.b64encode(value).decode()}

    @router.post(f"{BASE}/acls/put", tags=tag, operation_id="secrets_put_acl", responses=ok(responses.Empty))
    def put_acl(body: SecretAclBody, request: Request, principal: Principal = Depends(require_principal)):
        """Grant READ, WRITE or MANAGE on a scope to a user, service principal or group: MANAGE."""
        with request.app.state.db.session() as s:
            store.put_acl(s, body.scope, body.principal, body.permission, principal=principal)
        return {}

    @router.post(f"{BASE}/acls/delete", tags=tag, operation_id="secrets_delete_acl", responses=ok(responses.Empty))
    def delete_acl(body: SecretAclRef, request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            store.delete_acl(s, body.scope, body.principal, principal=principal)
        return {}

    @router.get(f"{BASE}/acls/get", tags=tag, operation_id="secrets_get_acl", responses=ok(responses.AclItem))
    def get_acl(
        request: Request,
        scope: str = _name(),
        principal_name: str = Query(..., alias="principal", min_length=1, max_length=255),
        principal: Principal = Depends(require_principal),
    ):
        with request.app.state.db.session() as s:
            return store.get_acl(s, scope, principal_name, principal=principal)

    @router.get(
        f"{BASE}/acls/list", tags=tag, operation_id="secrets_list_acls", responses=ok(responses.ListAclsResponse)
    )
    def list_acls(request: Request, scope: str = _name(), principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            items = store.list_acls(s, scope, principal=principal)
        return {"items": items} if items else {}

    return router
