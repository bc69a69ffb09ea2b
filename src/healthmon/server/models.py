"""Request bodies of the Jobs API, as pydantic models for validation and the OpenAPI document.

Models stay flat (nested objects are plain dicts the runtime validates) and allow unknown
fields, since Databricks accepts and ignores fields it does not use. The Jobs API models are
strict: a boolean must be a JSON boolean, an id a JSON integer or its decimal string. Ids are bounded to int64 so
an oversized number is a 400, not a database overflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, model_validator

from healthmon.jobs.refs import UNSUPPORTED_PARAMETER_KINDS
from healthmon.store.auth import MAX_TOKEN_LIFETIME_SECONDS
from healthmon.store.jsontext import unpaired_surrogate

INT64_MAX = 2**63 - 1


def _json_int64(value: Any) -> Any:
    """An int64 as the Jobs API reads it (the proto3 JSON mapping): a JSON integer or its decimal
    string (the legacy ``databricks`` CLI sends ids as strings); never a boolean."""
    if isinstance(value, bool):
        raise ValueError("must be an integer, not a boolean")
    if isinstance(value, str):
        if not re.fullmatch(r"-?[0-9]{1,19}", value):
            raise ValueError("must be an integer (a JSON number or its decimal string)")
        return int(value)
    return value


Id = Annotated[int, BeforeValidator(_json_int64), Field(ge=0, le=INT64_MAX)]


MAX_DEPTH = 64  # JSON nesting of a request body: job settings need about ten levels


def nesting_depth(value: Any) -> int:
    """How deep JSON arrays and objects nest in ``value`` (iterative: any depth is measured)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if nesting_depth(data) > MAX_DEPTH:
            raise ValueError(f"the request nests JSON objects and arrays deeper than {MAX_DEPTH} levels")
        where = unpaired_surrogate(data)
        if where is not None:  # JSON's "\ud800" escape alone: no UTF-8 text (so no stored row) can hold it
            raise ValueError(f"{where or 'the body'} holds an unpaired UTF-16 surrogate escape; "
                             "expected valid Unicode text")
        return data


class _JobsBody(_Body):
    """A Jobs API body: strict types, as the Jobs API takes them (the proto3 JSON mapping): a
    boolean is JSON ``true``/``false`` only (``"yes"``, ``"true"``, ``1`` are a 400 naming the
    field, not a silent conversion), a string a JSON string; ids are ``Id``."""

    model_config = ConfigDict(extra="allow", strict=True)


class CreateJob(_JobsBody):
    name: str | None = Field(None, max_length=4096)
    tasks: list[dict[str, Any]] | None = None
    access_control_list: list[dict[str, Any]] | None = None


class UpdateJob(_JobsBody):
    job_id: Id
    new_settings: dict[str, Any] | None = None
    fields_to_remove: list[str] | None = None


class JobAclEntry(_JobsBody):
    user_name: str | None = Field(None, max_length=255)
    group_name: str | None = Field(None, max_length=255)
    service_principal_name: str | None = Field(None, max_length=255)
    permission_level: str | None = Field(None, max_length=64)


class JobAcl(_JobsBody):
    """PUT / PATCH /api/2.0/permissions/jobs/{job_id}."""

    access_control_list: list[JobAclEntry] | None = None


class JobId(_JobsBody):
    job_id: Id


class ResetJob(_JobsBody):
    job_id: Id
    new_settings: dict[str, Any]


class _RunParameters(_JobsBody):
    job_parameters: dict[str, str] | None = None
    notebook_params: dict[str, str] | None = None
    python_named_params: dict[str, str] | None = None
    jar_params: list[str] | None = None
    python_params: list[str] | None = None
    spark_submit_params: list[str] | None = None
    sql_params: dict[str, str] | None = None
    dbt_commands: list[str] | None = None
    pipeline_params: dict[str, Any] | None = None

    def unsupported_parameters(self) -> list[str]:
        return [name for name in UNSUPPORTED_PARAMETER_KINDS if getattr(self, name) is not None]



class RunNow(_RunParameters):
    job_id: Id
    idempotency_token: str | None = Field(None, max_length=64)
    only: list[str] | None = None


class RunId(_JobsBody):
    run_id: Id


class CancelAll(_JobsBody):
    job_id: Id | None = None
    all_queued_runs: bool | None = None


class RepairRun(_RunParameters):
    run_id: Id
    rerun_tasks: list[str] | None = None
    rerun_all_failed_tasks: bool | None = None
    rerun_dependent_tasks: bool | None = None
    latest_repair_id: Id | None = None


class SubmitRun(_JobsBody):
    run_name: str | None = Field(None, max_length=4096)
    tasks: list[dict[str, Any]] | None = None
    access_control_list: list[dict[str, Any]] | None = None
    idempotency_token: str | None = Field(None, max_length=64)


ScopeName = Annotated[str, Field(min_length=1, max_length=128)]
PrincipalName = Annotated[str, Field(min_length=1, max_length=255)]


class SecretScopeRef(_Body):
    scope: ScopeName


class SecretScopeCreate(SecretScopeRef):
    initial_manage_principal: str | None = Field(None, max_length=255)
    scope_backend_type: str | None = Field(None, max_length=64)


class SecretRef(SecretScopeRef):
    key: ScopeName


class PutSecret(SecretRef):
    string_value: str | None = Field(None, max_length=128 * 1024)
    bytes_value: str | None = Field(None, max_length=176 * 1024)  # base64 of at most 128 KiB


class SecretAclRef(SecretScopeRef):
    principal: PrincipalName


class SecretAclBody(SecretAclRef):
    permission: str = Field(..., max_length=64)


class WorkspacePath(_Body):
    path: str = Field(..., min_length=1, max_length=4096)


class WorkspaceDelete(WorkspacePath):
    recursive: bool | None = None


class WorkspaceImport(WorkspacePath):
    content: str | None = Field(None, max_length=14 * 1024 * 1024)  # base64 of at most 10 MiB
    format: str | None = Field(None, max_length=32)
    language: str | None = Field(None, max_length=32)
    overwrite: bool | None = None


class CreateToken(_Body):
    # A JSON number (true/false are not one); omitted: Databricks' default lifetime.
    lifetime_seconds: Annotated[StrictInt, Field(ge=1, le=MAX_TOKEN_LIFETIME_SECONDS)] | None = None
    comment: str | None = Field(None, max_length=1024)


class TokenId(_Body):
    token_id: str = Field(..., max_length=128)


# -- DBFS API (databricks.sdk.service.files.DbfsAPI) ----------------------------------------------
DbfsPathField = Annotated[str, Field(min_length=1, max_length=4096)]
Base64Block = Annotated[str, Field(max_length=14 * 1024 * 1024)]  # checked against the 1 MB block limit later


class DbfsPathBody(_Body):
    path: DbfsPathField


class DbfsPut(DbfsPathBody):
    contents: Base64Block | None = None
    overwrite: bool | None = None


class DbfsCreate(DbfsPathBody):
    overwrite: bool | None = None


class DbfsDelete(DbfsPathBody):
    recursive: bool | None = None


class DbfsHandle(_Body):
    handle: Id


class DbfsAddBlock(DbfsHandle):
    data: Base64Block


class DbfsMove(_Body):
    source_path: DbfsPathField
    destination_path: DbfsPathField
