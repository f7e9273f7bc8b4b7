"""Long actions as jobs: started by a person, run by the worker, progress visible on a page.

A room registers a job kind with a function ``run(job: JobRun, **params) -> dict``; the
dictionary becomes the job's result. ``job_start`` (in services) creates the record and enqueues
it after the transaction commits. Runs are idempotent: a finished job is never run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from huey.contrib.djhuey import db_task

from machi.core import context
from machi.core.models import Job, JobStatus

logger = logging.getLogger(__name__)
JobFunction = Callable[..., dict[str, Any]]
_KINDS: dict[str, JobFunction] = {}
PROGRESS_EVERY = 0.5  # seconds between progress writes, so a fast loop is not a write storm


def register(kind: str) -> Callable[[JobFunction], JobFunction]:
    def decorate(function: JobFunction) -> JobFunction:
        _KINDS[kind] = function
        return function

    return decorate


def kinds() -> list[str]:
    return sorted(_KINDS)


class JobRun:
    """What a job function sees: its record, and a way to report progress."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self._last_write = 0.0

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        now = timezone.now().timestamp()
        self.job.done = done
        if total is not None:
            self.job.total = total
        if message:
            self.job.message = message[:200]
        if now - self._last_write >= PROGRESS_EVERY or (total is not None and done >= total):
            Job.objects.filter(pk=self.job.pk).update(
                done=self.job.done, total=self.job.total, message=self.job.message
            )
            self._last_write = now


def execute(job_id: str) -> Job:
    """Run one job now, in this process (the worker calls this)."""
    job = Job.objects.select_related("created_by").get(pk=job_id)
    if job.finished:
        return job
    function = _KINDS.get(job.kind)
    job.status, job.started_at = JobStatus.RUNNING, timezone.now()
    job.save(update_fields=["status", "started_at"])
    run = JobRun(job)
    try:
        if function is None:
            raise LookupError(f"no job kind {job.kind!r} is registered")
        with context.acting(user=job.created_by, channel="task", request_id=str(job.pk)[:8]):
            result = function(run, **job.params)
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.kind)
        job.status, job.error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        job.result = {}
    else:
        job.status, job.result = JobStatus.SUCCEEDED, result or {}
        if job.total is not None:
            job.done = job.total
    job.message = run.job.message
    job.finished_at = timezone.now()
    job.save()
    return job


@db_task()
def run_job(job_id: str) -> None:
    execute(job_id)
