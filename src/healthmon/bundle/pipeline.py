"""The loader's steps, phase by phase, in the order they run (the CLI's ``phases.Load`` and
``phases.Initialize`` followed by validation), then healthmon's own checks that every deploy
runs. Each step declares what it reads and updates;
``docs/bundle.md`` lists them."""

from __future__ import annotations

from pathlib import Path

from healthmon.bundle.mutators.apply_mode import ApplyMode
from healthmon.bundle.mutators.apply_presets import ApplyPresets
from healthmon.bundle.mutators.apps import ValidateApps
from healthmon.bundle.mutators.artifacts import InsertPythonArtifact, PrepareArtifacts
from healthmon.bundle.mutators.bundle_root import CheckBundleRoot
from healthmon.bundle.mutators.capture_schema_dependency import CaptureSchemaDependency
from healthmon.bundle.mutators.cli_version import VerifyCliVersion
from healthmon.bundle.mutators.interpolate import Interpolate
from healthmon.bundle.mutators.load_git import LoadGit
from healthmon.bundle.mutators.load_includes import LoadIncludes
from healthmon.bundle.mutators.merge_keyed import MergeKeyedLists, SortTasks
from healthmon.bundle.mutators.merge_target import MergeTarget
from healthmon.bundle.mutators.normalize import NormalizeAsLoaded, NormalizeResolvedTypes
from healthmon.bundle.mutators.override_compute import ComputeIdToClusterId, OverrideCompute
from healthmon.bundle.mutators.permissions import (
    ApplyPermissions,
    PermissionDiagnostics,
    ValidateSharedRootPermissions,
)
from healthmon.bundle.mutators.pipeline_globs import ExpandPipelineGlobPaths
from healthmon.bundle.mutators.resolve_variables import InitializeVariables, ResolveVariables
from healthmon.bundle.mutators.resources_have_values import CheckResourcesHaveValues
from healthmon.bundle.mutators.run_as import SetRunAs
from healthmon.bundle.mutators.scripts import RunScript
from healthmon.bundle.mutators.select_target import SelectTarget
from healthmon.bundle.mutators.set_defaults import DefineWorkspaceDefaults, SetResourceDefaults
from healthmon.bundle.mutators.source_linked import ApplySourceLinkedDeployment
from healthmon.bundle.mutators.sync_paths import RewriteSyncPaths, SyncDefaultPath, SyncInferRoot
from healthmon.bundle.mutators.translate_paths import TranslatePaths
from healthmon.bundle.mutators.validate import CheckRequiredAndEnum
from healthmon.bundle.mutators.wheel_wrapper import WheelWrapperCheck
from healthmon.bundle.mutators.workspace_prefix import RewriteWorkspacePrefix
from healthmon.bundle.step import Step


def load(main_file: Path, target: str | None) -> list[Step]:
    """Read the files and pick the target. ``preinit`` runs before the includes are read: its script
    may write a file the root includes (the CLI's ``DefaultMutators``)."""
    return [RunScript("preinit"), LoadIncludes(main_file), NormalizeAsLoaded(), CheckBundleRoot(), VerifyCliVersion(),
            ComputeIdToClusterId(), SelectTarget(target), MergeTarget(), InitializeVariables()]


def initialize() -> list[Step]:
    """Resolve the configuration: defaults, variables, references, mode, presets, identity, paths."""
    return [
        CheckResourcesHaveValues(),
        RewriteSyncPaths(),
        SyncDefaultPath(),
        SyncInferRoot(),
        ApplySourceLinkedDeployment(),
        DefineWorkspaceDefaults(),
        # The CLI's LoadGitDetails runs right after PopulateCurrentUser: a host that fails there
        # leaves the configuration without `bundle.git`.
        LoadGit(),
        ResolveVariables(),
        RewriteWorkspacePrefix(),
        Interpolate(),
        NormalizeResolvedTypes(),
        MergeKeyedLists(),
        SortTasks(),
        CaptureSchemaDependency(),
        CheckRequiredAndEnum(),
        PermissionDiagnostics(),
        SetRunAs(),
        OverrideCompute(),
        ApplyMode(),
        ApplyPresets(),
        SetResourceDefaults(),
        ExpandPipelineGlobPaths(),
        TranslatePaths(),
        WheelWrapperCheck(),
        InsertPythonArtifact(),
        PrepareArtifacts(),
        ValidateApps(),
        ValidateSharedRootPermissions(),
        ApplyPermissions(),
        RunScript("postinit"),
    ]


def validate() -> list[Step]:
    from healthmon.bundle.mutators.validate import steps

    return steps()


def deploy_checks() -> list[Step]:
    """healthmon's own checks, which the CLI's ``bundle validate`` does not have: what the Jobs
    API or a local run would refuse. Run by ``deploy`` after validation, before anything is
    written (``loader.deploy_checks``)."""
    from healthmon.bundle.mutators.validate import deploy_steps

    return deploy_steps()
