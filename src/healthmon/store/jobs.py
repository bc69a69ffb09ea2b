"""Jobs and bundle deployments.

A job row holds the job's settings exactly as the Jobs API ``JobSettings`` JSON (the resolved
bundle configuration of that job). Job ids come from an AUTOINCREMENT sequence: never reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from healthmon.errors import NotFoundError
from healthmon.store.db import Base
from healthmon.store.jsontext import dumps_sorted, loads


def now_ms() -> int:
    return int(time.time() * 1000)


class JobRecord(Base):
    __tablename__ = "jobs"
    __table_args__ = ({"sqlite_autoincrement": True},)

    job_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    settings_json: Mapped[str] = mapped_column(Text)
    creator_user_name: Mapped[str] = mapped_column(String(255))
    run_as_user_name: Mapped[str] = mapped_column(String(255))
    created_time: Mapped[int] = mapped_column(BigInteger)
    # Set for jobs owned by a bundle deployment; NULL for jobs created through the API.
    bundle_name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    bundle_target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Directory the bundle was deployed from: notebook paths in settings are absolute already,
    # this is kept for display and for resolving relative files at run time.
    bundle_root: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def settings(self) -> dict[str, Any]:
        return loads(self.settings_json)

    @settings.setter
    def settings(self, value: dict[str, Any]) -> None:
        self.settings_json = dumps_sorted(value)

    @property
    def name(self) -> str:
        return self.settings.get("name") or f"Untitled job {self.job_id}"

    def to_api(self) -> dict[str, Any]:
        """The Jobs API ``Job`` object (GET /api/2.2/jobs/get)."""
        return {
            "job_id": self.job_id,
            "creator_user_name": self.creator_user_name,
            "run_as_user_name": self.run_as_user_name,
            "created_time": self.created_time,
            "settings": self.settings,
        }


class DeploymentRecord(Base):
    __tablename__ = "deployments"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    bundle_name: Mapped[str] = mapped_column(String(255), index=True)
    target: Mapped[str] = mapped_column(String(255))
    user_name: Mapped[str] = mapped_column(String(255))
    bundle_root: Mapped[str] = mapped_column(Text)
    bundle_hash: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))  # deploy | destroy
    started_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # IN_PROGRESS | SUCCEEDED | FAILED
    summary_json: Mapped[str] = mapped_column(Text, default="{}")


class DeploymentLock(Base):
    """At most one deploy/destroy per (bundle, target) at a time: the row's primary key is the
    guard, so a second writer's INSERT fails at the database, not in Python."""

    __tablename__ = "deployment_locks"
    __table_args__ = (UniqueConstraint("bundle_name", "target"),)

    bundle_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    target: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[int] = mapped_column(BigInteger)


@dataclass
class JobRef:
    job_id: int
    name: str


def get_job(session: Session, job_id: int) -> JobRecord:
    job = session.get(JobRecord, job_id)
    if job is None:
        raise NotFoundError(f"Job {job_id} does not exist.")
    return job


def list_jobs(session: Session, *, name: str | None = None) -> list[JobRecord]:
    rows = session.scalars(select(JobRecord).order_by(JobRecord.job_id)).all()
    if name is not None:
        rows = [r for r in rows if r.name == name]
    return list(rows)


def bundle_jobs(session: Session, bundle_name: str, target: str) -> dict[str, JobRecord]:
    rows = session.scalars(
        select(JobRecord).where(JobRecord.bundle_name == bundle_name, JobRecord.bundle_target == target)
    ).all()
    return {r.resource_key: r for r in rows if r.resource_key}
