"""Workspace-level routes the SDK and CLIs call besides the Jobs API: host metadata, the
current user (SCIM ``Me``), the token API, and an unauthenticated health check."""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Depends, Request

from healthmon.server.auth import forget_tokens, require_principal
from healthmon.server.models import CreateToken, TokenId
from healthmon.store import auth as auth_store
from healthmon.store.auth import Principal


def workspace_id(request: Request) -> str:
    # Stable per workspace home, numeric like Databricks' workspace ids.
    digest = hashlib.sha256(str(request.app.state.settings.home).encode()).hexdigest()
    return str(int(digest[:13], 16))


def build_public_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["workspace"], operation_id="health")
    def health() -> dict:
        """Liveness probe; needs no token and reveals nothing about the workspace."""
        return {"status": "ok"}

    @router.get("/.well-known/databricks-config", tags=["workspace"], operation_id="host_metadata")
    def databricks_config(request: Request) -> dict:
        """Host metadata the Databricks SDK reads at client start-up."""
        base = str(request.base_url).rstrip("/")
        return {"oidc_endpoint": f"{base}/oidc", "workspace_id": workspace_id(request)}

    return router


def build_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/api/2.0/preview/scim/v2/Me", tags=["workspace"], operation_id="scim_me")
    def me(principal: Principal = Depends(require_principal)) -> dict:
        return principal.to_scim()

    @router.post("/api/2.0/token/create", tags=["tokens"], operation_id="token_create")
    def token_create(body: CreateToken, request: Request, principal: Principal = Depends(require_principal)) -> dict:
        with request.app.state.db.session() as s:
            created = auth_store.create_token(
                s, principal.name, lifetime_seconds=body.lifetime_seconds or None, comment=body.comment or "",
                kind=principal.kind,
            )
        return {"token_value": created.token_value, "token_info": created.info}

    @router.get("/api/2.0/token/list", tags=["tokens"], operation_id="token_list")
    def token_list(request: Request, principal: Principal = Depends(require_principal)) -> dict:
        with request.app.state.db.session() as s:
            return {"token_infos": auth_store.list_tokens(s, principal.name)}

    @router.post("/api/2.0/token/delete", tags=["tokens"], operation_id="token_delete")
    def token_delete(body: TokenId, request: Request, principal: Principal = Depends(require_principal)) -> dict:
        with request.app.state.db.session() as s:
            auth_store.revoke_token(s, body.token_id, principal_name=principal.name)
        forget_tokens()  # committed: no cached grant may outlive it
        return {}

    return router
