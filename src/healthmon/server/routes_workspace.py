"""Workspace-level routes the SDK and CLIs call besides the Jobs API: host metadata, the
current user (SCIM ``Me``), the token API, and an unauthenticated health check."""

from __future__ import annotations

import hashlib
import os

from fastapi import APIRouter, Depends, Request

from healthmon.server import responses
from healthmon.server.auth import forget_tokens, require_principal
from healthmon.server.models import CreateToken, TokenId
from healthmon.server.responses import ok
from healthmon.store import auth as auth_store
from healthmon.store.auth import Principal

# The token API's lifetime when the request gives none (Databricks: "valid for 2 years").
DEFAULT_TOKEN_LIFETIME_SECONDS = 2 * 365 * 24 * 3600


def workspace_id(request: Request) -> str:
    # Stable per workspace home, numeric like Databricks' workspace ids.
    digest = hashlib.sha256(str(request.app.state.settings.home).encode()).hexdigest()
    return str(int(digest[:13], 16))


def server_url(request: Request) -> str:
    """This server's own URL: the one it was started with (``HEALTHMON_SERVER_URL``), else the
    address of the socket the request came in on; never the request's Host header, which the
    client chooses (a response naming it could point a client anywhere)."""
    configured = os.environ.get("HEALTHMON_SERVER_URL")
    if configured:
        return configured.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 80)
    host = f"[{host}]" if ":" in str(host) else host
    return f"{request.url.scheme}://{host}:{port}"


def build_public_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["workspace"], operation_id="health", responses=ok(responses.Health))
    def health():
        """Liveness probe; needs no token and reveals nothing about the workspace."""
        return {"status": "ok"}

    @router.get("/.well-known/databricks-config", tags=["workspace"], operation_id="host_metadata",
                responses=ok(responses.HostMetadata))
    def databricks_config(request: Request):
        """Host metadata the Databricks SDK reads at client start-up."""
        return {"oidc_endpoint": f"{server_url(request)}/oidc", "workspace_id": workspace_id(request)}

    return router


def build_router() -> APIRouter:
    router = APIRouter(dependencies=[Depends(require_principal)])

    @router.get("/api/2.0/preview/scim/v2/Me", tags=["workspace"], operation_id="scim_me", responses=ok(responses.User))
    def me(principal: Principal = Depends(require_principal)):
        return principal.to_scim()

    @router.post("/api/2.0/token/create", tags=["tokens"], operation_id="token_create",
                 responses=ok(responses.CreateTokenResponse))
    def token_create(body: CreateToken, request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            created = auth_store.create_token(
                s, principal.name, lifetime_seconds=body.lifetime_seconds or DEFAULT_TOKEN_LIFETIME_SECONDS,
                comment=body.comment or "", kind=principal.kind,
            )
        return {"token_value": created.token_value, "token_info": created.info}

    @router.get(
        "/api/2.0/token/list", tags=["tokens"], operation_id="token_list", responses=ok(responses.ListTokensResponse)
    )
    def token_list(request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            return {"token_infos": auth_store.list_tokens(s, principal.name)}

    @router.post("/api/2.0/token/delete", tags=["tokens"], operation_id="token_delete", responses=ok(responses.Empty))
    def token_delete(body: TokenId, request: Request, principal: Principal = Depends(require_principal)):
        with request.app.state.db.session() as s:
            auth_store.revoke_token(s, body.token_id, principal_name=principal.name)
        forget_tokens()  # committed: no cached grant may outlive it
        return {}

    return router
