"""Response bodies of the REST API, typed for the OpenAPI document: the shapes (field names, types,
enum values) of ``databricks.sdk.service.*`` for the fields this server returns.

The handlers send plain dicts (``routes_jobs.json_body``: no re-validation on the hot paths); these
models only describe them, and ``test_server_fuzz`` checks every response against them. The enum
values are copied from the SDK (importing it costs the server seconds at start-up);
``test_server_openapi`` checks that they still match. Unknown fields are allowed, as Databricks
adds fields over time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

RunLifeCycleState = Literal["BLOCKED", "INTERNAL_ERROR", "PENDING", "QUEUED", "RUNNING", "SKIPPED", "TERMINATED",
                            "TERMINATING", "WAITING_FOR_RETRY"]
RunResultState = Literal["CANCELED", "DISABLED", "EXCLUDED", "FAILED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "SUCCESS",
                         "SUCCESS_WITH_FAILURES", "TIMEDOUT", "UPSTREAM_CANCELED", "UPSTREAM_FAILED"]
RunLifecycleStateV2State = Literal["BLOCKED", "PENDING", "QUEUED", "RUNNING", "TERMINATED", "TERMINATING", "WAITING"]
RunType = Literal["JOB_RUN", "SUBMIT_RUN", "WORKFLOW_RUN"]
TriggerType = Literal["CONTINUOUS", "CONTINUOUS_RESTART", "FILE_ARRIVAL", "JOB_COMPLETION", "ONE_TIME", "PERIODIC",
                      "RETRY", "RUN_JOB_TASK", "TABLE"]
TerminationTypeType = Literal["CLIENT_ERROR", "CLOUD_FAILURE", "INTERNAL_ERROR", "SUCCESS"]
JobPermissionLevel = Literal["CAN_MANAGE", "CAN_MANAGE_RUN", "CAN_VIEW", "IS_OWNER"]
ViewType = Literal["DASHBOARD", "NOTEBOOK"]
ObjectType = Literal["DASHBOARD", "DIRECTORY", "FILE", "LIBRARY", "NOTEBOOK", "REPO"]
Language = Literal["PYTHON", "R", "SCALA", "SQL"]
ExportFormat = Literal["AUTO", "DBC", "HTML", "JUPYTER", "RAW", "R_MARKDOWN", "SOURCE"]
AclPermission = Literal["MANAGE", "READ", "WRITE"]
ScopeBackendType = Literal["AZURE_KEYVAULT", "DATABRICKS"]

# What test_server_openapi compares with the SDK: name here -> (SDK module, enum class).
SDK_ENUMS = {
    "RunLifeCycleState": ("jobs", "RunLifeCycleState"),
    "RunResultState": ("jobs", "RunResultState"),
    "RunLifecycleStateV2State": ("jobs", "RunLifecycleStateV2State"),
    "RunType": ("jobs", "RunType"),
    "TriggerType": ("jobs", "TriggerType"),
    "TerminationTypeType": ("jobs", "TerminationTypeType"),
    "JobPermissionLevel": ("jobs", "JobPermissionLevel"),
    "ViewType": ("jobs", "ViewType"),
    "ObjectType": ("workspace", "ObjectType"),
    "Language": ("workspace", "Language"),
    "ExportFormat": ("workspace", "ExportFormat"),
    "AclPermission": ("workspace", "AclPermission"),
    "ScopeBackendType": ("workspace", "ScopeBackendType"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    """Every refusal: a Databricks error body."""

    model_config = ConfigDict(extra="forbid")
    error_code: str
    message: str


def ok(model: type[BaseModel]) -> dict:
    """``responses=`` of a route whose 200 body is ``model`` (documented, not re-validated), and
    whose every other answer is a Databricks error body."""
    return {
        200: {"model": model, "description": "OK"},
        "default": {"model": Error, "description": "A Databricks error"},
    }


class Empty(_Model):
    pass


# -- jobs ---------------------------------------------------------------------------------------
class CreateResponse(_Model):
    job_id: int


class RunNowResponse(_Model):
    run_id: int
    number_in_job: int | None = None


class SubmitRunResponse(_Model):
    run_id: int


class RepairRunResponse(_Model):
    repair_id: int


class BaseJob(_Model):
    """A jobs/list entry."""

    job_id: int
    creator_user_name: str | None = None
    created_time: int | None = None
    settings: dict[str, Any] | None = None


class Job(BaseJob):
    run_as_user_name: str | None = None


class _Page(_Model):
    has_more: bool | None = None
    next_page_token: str | None = None
    prev_page_token: str | None = None


class ListJobsResponse(_Page):
    jobs: list[BaseJob] | None = None


class RunState(_Model):
    life_cycle_state: RunLifeCycleState | None = None
    result_state: RunResultState | None = None
    state_message: str | None = None
    user_cancelled_or_timedout: bool | None = None


class TerminationDetails(_Model):
    code: str | None = None
    message: str | None = None
    type: TerminationTypeType | None = None


class RunStatus(_Model):
    state: RunLifecycleStateV2State | None = None
    termination_details: TerminationDetails | None = None
    queue_details: dict[str, Any] | None = None


class _RunCommon(_Model):
    """What a job run and a task run both report."""

    attempt_number: int | None = None
    start_time: int | None = None
    end_time: int | None = None
    setup_duration: int | None = None
    execution_duration: int | None = None
    cleanup_duration: int | None = None
    run_duration: int | None = None
    queue_duration: int | None = None
    state: RunState | None = None
    status: RunStatus | None = None
    run_page_url: str | None = None


class RunTask(_RunCommon):
    run_id: int | None = None
    task_key: str
    depends_on: list[dict[str, Any]] | None = None


class JobParameter(_Model):
    name: str | None = None
    default: str | None = None
    value: str | None = None


class RunParameters(_Model):
    """The task parameters run-now gave (``notebook_params``, ``python_named_params``,
    ``python_params``)."""

    notebook_params: dict[str, str] | None = None
    python_named_params: dict[str, str] | None = None
    python_params: list[str] | None = None


class Run(_RunCommon):
    run_id: int
    job_id: int | None = None
    job_run_id: int | None = None
    number_in_job: int | None = None
    original_attempt_run_id: int | None = None
    run_name: str | None = None
    run_type: RunType | None = None
    trigger: TriggerType | None = None
    creator_user_name: str | None = None
    tasks: list[RunTask] | None = None
    iterations: list[RunTask] | None = None
    job_parameters: list[JobParameter] | None = None
    overriding_parameters: RunParameters | None = None
    repair_history: list[dict[str, Any]] | None = None
    description: str | None = None


class ListRunsResponse(_Page):
    runs: list[Run] | None = None


class NotebookOutput(_Model):
    result: str | None = None
    truncated: bool | None = None


class RunJobOutput(_Model):
    run_id: int | None = None


class RunOutput(_Model):
    metadata: Run | None = None
    notebook_output: NotebookOutput | None = None
    run_job_output: RunJobOutput | None = None
    error: str | None = None
    error_trace: str | None = None
    logs: str | None = None
    logs_truncated: bool | None = None


class ViewItem(_Model):
    content: str | None = None
    name: str | None = None
    type: ViewType | None = None


class ExportRunOutput(_Model):
    views: list[ViewItem] | None = None


# -- permissions --------------------------------------------------------------------------------
class JobPermission(_Model):
    permission_level: JobPermissionLevel | None = None
    inherited: bool | None = None
    inherited_from_object: list[str] | None = None


class JobAccessControlResponse(_Model):
    user_name: str | None = None
    group_name: str | None = None
    service_principal_name: str | None = None
    all_permissions: list[JobPermission] | None = None


class JobPermissions(_Model):
    object_id: str | None = None
    object_type: str | None = None
    access_control_list: list[JobAccessControlResponse] | None = None


class JobPermissionsDescription(_Model):
    permission_level: JobPermissionLevel | None = None
    description: str | None = None


class PermissionLevels(_Model):
    permission_levels: list[JobPermissionsDescription] | None = None


# -- secrets ------------------------------------------------------------------------------------
class SecretScope(_Model):
    name: str | None = None
    backend_type: ScopeBackendType | None = None


class ListScopesResponse(_Model):
    scopes: list[SecretScope] | None = None


class SecretMetadata(_Model):
    key: str | None = None
    last_updated_timestamp: int | None = None


class ListSecretsResponse(_Model):
    secrets: list[SecretMetadata] | None = None


class GetSecretResponse(_Model):
    key: str | None = None
    value: str | None = None


class AclItem(_Model):
    principal: str
    permission: AclPermission


class ListAclsResponse(_Model):
    items: list[AclItem] | None = None


# -- workspace files ----------------------------------------------------------------------------
class ObjectInfo(_Model):
    object_type: ObjectType | None = None
    path: str | None = None
    language: Language | None = None
    object_id: int | None = None
    created_at: int | None = None
    modified_at: int | None = None
    size: int | None = None


class ListWorkspaceResponse(_Model):
    objects: list[ObjectInfo] | None = None


class WorkspaceExportResponse(_Model):
    content: str | None = None
    file_type: str | None = None


class DirectoryEntry(_Model):
    path: str | None = None
    name: str | None = None
    is_directory: bool | None = None
    file_size: int | None = None
    last_modified: int | None = None


class ListDirectoryResponse(_Model):
    contents: list[DirectoryEntry] | None = None
    next_page_token: str | None = None


# -- workspace ----------------------------------------------------------------------------------
class HostMetadata(_Model):
    oidc_endpoint: str
    workspace_id: str


class Health(_Model):
    status: str


class PublicTokenInfo(_Model):
    token_id: str
    creation_time: int | None = None
    expiry_time: int | None = None
    comment: str | None = None


class CreateTokenResponse(_Model):
    token_value: str
    token_info: PublicTokenInfo


class ListTokensResponse(_Model):
    token_infos: list[PublicTokenInfo] | None = None


class User(_Model):
    id: str
    userName: str  # noqa: N815 (SCIM's name)
    displayName: str | None = None  # noqa: N815
    active: bool | None = None
    groups: list[dict[str, Any]] | None = None


# -- DBFS ---------------------------------------------------------------------------------------
class DbfsFileInfo(_Model):
    path: str | None = None
    is_dir: bool | None = None
    file_size: int | None = None
    modification_time: int | None = None


class DbfsListStatusResponse(_Model):
    files: list[DbfsFileInfo] | None = None


class DbfsCreateResponse(_Model):
    handle: int | None = None


class DbfsReadResponse(_Model):
    bytes_read: int | None = None
    data: str | None = None
