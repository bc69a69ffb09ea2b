"""Environments: ``environment_key`` names a declared environment, keys are unique, and
``spec.dependencies`` are valid PEP 508 requirements (or local/workspace/remote files, or pip
options), so "Dependencies not found"-class mistakes are caught before a run."""

from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement

from healthmon.bundle.diag import ERROR, Diagnostic
from healthmon.bundle.suggest import did_you_mean
from healthmon.bundle.validate.base import BundleState, iter_tasks, task_key

CHECK = "environments"
FILE_DEP_SUFFIXES = (".whl", ".tar.gz", ".zip", ".txt")


def _is_file_dep(dep: str) -> bool:
    return (dep.startswith(("/", "./", "../", "-r ", "-e ", "--", "dbfs:", "file:")) or "://" in dep
            or dep.endswith(FILE_DEP_SUFFIXES))


def check(state: BundleState) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    declared_by_job: dict[str, set[str]] = {}
    for key, job in state.jobs().items():
        envs = job.get("environments")
        names: dict[str, int] = {}
        if envs is not None and envs.is_list:
            for i, env in enumerate(envs.v):
                env_key = env.get("environment_key") if env.is_map else None
                if env_key is None or not isinstance(env_key.v, str):
                    continue  # a missing or malformed key is the schema check's to report
                ek = env_key.v
                epath = f"resources.jobs.{key}.environments[{i}]"
                if ek in names:
                    out.append(Diagnostic(ERROR, f'job "{key}": duplicate environment_key "{ek}"',
                                          env.loc, f"{epath}.environment_key", check=CHECK))
                names[ek] = i
                spec = env.get("spec")
                deps = spec.get("dependencies") if spec is not None and spec.is_map else None
                if deps is None or not deps.is_list:
                    continue
                for j, dep in enumerate(deps.v):
                    if not isinstance(dep.v, str) or _is_file_dep(dep.v.strip()) or "${" in dep.v:
                        continue
                    try:
                        Requirement(dep.v)
                    except InvalidRequirement as exc:
                        detail = str(exc).splitlines()[0]
                        out.append(Diagnostic(
                            ERROR, f'environment "{ek}" of job "{key}": dependency {dep.v!r} is not a valid '
                                   f"PEP 508 requirement ({detail})",
                            dep.loc, f"{epath}.spec.dependencies[{j}]", check=CHECK))
        declared_by_job[key] = set(names)
    for key, _job, _, task, tpath in iter_tasks(state):
        task_env = task.get("environment_key")
        if task_env is None or task_env.v is None or not task_env.is_scalar:
            continue
        declared = declared_by_job.get(key, set())
        if task_env.v not in declared:
            listing = ", ".join(sorted(declared)) or "none"
            out.append(Diagnostic(
                ERROR, f'task "{task_key(task)}" of job "{key}" uses environment_key "{task_env.v}", '
                       f"which the job does not declare{did_you_mean(str(task_env.v), declared)} (declared: {listing})",
                task_env.loc, f"{tpath}.environment_key", check=CHECK))
    return out
