"""Request bodies of the Jobs API, as pydantic models for validation and the OpenAPI document.

Models stay flat (nested objects are plain dicts the runtime validates) and allow unknown
fields, since Databricks accepts and ignores fields it does not use. Ids are bounded to int64 so
an oversized number is a 400, not a database overflow.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

INT64_MAX = 2**63 - 1
Id = Annotated[int, Field(ge=0, le=INT64_MAX)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="allow")


class CreateJob(_Body):
    name: str | None = Field(None, max_length=4096)
    tasks: list[dict[str, Any]] | None = None
    access_control_list: list[dict[str, Any]] | None = None


class JobId(_Body):
    job_id: Id


class ResetJob(_Body):
    job_id: Id
    new_settings: dict[str, Any]


class RunNow(_Body):
    job_id: Id
    job_parameters: dict[str, str] | None = None
    notebook_params: dict[str, str] | None = None
    python_named_params: dict[str, str] | None = None
    idempotency_token: str | None = Field(None, max_length=64)
    only: list[str] | None = None


class RunId(_Body):
    run_id: Id


class CancelAll(_Body):
    job_id: Id | None = None
    all_queued_runs: bool | None = None


class RepairRun(_Body):
    run_id: Id
    rerun_tasks: list[str] | None = None
    rerun_all_failed_tasks: bool | None = None
    rerun_dependent_tasks: bool | None = None
    latest_repair_id: Id | None = None
    job_parameters: dict[str, str] | None = None


class SubmitRun(_Body):
    run_name: str | None = Field(None, max_length=4096)
    tasks: list[dict[str, Any]] | None = None
    access_control_list: list[dict[str, Any]] | None = None
    idempotency_token: str | None = Field(None, max_length=64)


class CreateToken(_Body):
    lifetime_seconds: Annotated[int, Field(ge=0, le=10 * 365 * 24 * 3600)] | None = None
    comment: str | None = Field(None, max_length=1024)


class TokenId(_Body):
    token_id: str = Field(..., max_length=128)
