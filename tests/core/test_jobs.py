"""Long actions run as jobs whose progress and outcome are recorded."""

from typing import Any

import pytest
from django.test import Client

from machi.core import jobs, services
from machi.core.models import Job, JobStatus, User


@jobs.register("test.count")
def count_to(run: jobs.JobRun, *, upto: int) -> dict[str, Any]:
    for number in range(1, upto + 1):
        run.progress(number, upto)
    return {"counted": upto}


@jobs.register("test.fail")
def fail(run: jobs.JobRun) -> dict[str, Any]:
    run.progress(1, 3, "first third")
    raise RuntimeError("the access point did not answer")


def test_a_job_runs_after_commit_and_records_progress(
    hq: User, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_start(kind="test.count", title="count", created_by=hq, upto=5)
        assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    job.refresh_from_db()
    assert (job.status, job.done, job.total, job.percent) == (JobStatus.SUCCEEDED, 5, 5, 100)
    assert job.result == {"counted": 5}
    assert job.started_at is not None
    assert job.finished_at is not None


def test_a_failing_job_keeps_its_error_and_progress(hq: User) -> None:
    job = Job.objects.create(kind="test.fail", title="fail", created_by=hq)
    jobs.execute(str(job.pk))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "RuntimeError: the access point did not answer"
    assert (job.done, job.total, job.message) == (1, 3, "first third")


def test_a_finished_job_is_never_run_again(hq: User) -> None:
    job = Job.objects.create(kind="test.count", title="c", created_by=hq, params={"upto": 2})
    jobs.execute(str(job.pk))
    finished_at = Job.objects.get(pk=job.pk).finished_at
    jobs.execute(str(job.pk))
    assert Job.objects.get(pk=job.pk).finished_at == finished_at


def test_unknown_kinds_are_refused(hq: User) -> None:
    with pytest.raises(ValueError, match="unknown job kind"):
        services.job_start(kind="nope", title="x", created_by=hq)


def test_people_follow_only_their_own_jobs(client: Client, hq: User, auditor: User) -> None:
    job = Job.objects.create(kind="test.count", title="mine", created_by=hq, params={"upto": 1})
    client.force_login(auditor)
    assert client.get(f"/console/jobs/{job.pk}/").status_code == 404
    client.force_login(hq)
    page = client.get(f"/console/jobs/{job.pk}/")
    assert page.status_code == 200
    assert 'hx-trigger="load delay:1s"' in page.content.decode()  # still queued: keeps polling
    partial = client.get(f"/console/jobs/{job.pk}/", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<section id="job-status"')


def test_administrators_see_every_job(client: Client, hq: User, sysadmin: User) -> None:
    job = Job.objects.create(kind="test.count", title="mine", created_by=hq, params={"upto": 1})
    client.force_login(sysadmin)
    assert client.get(f"/console/jobs/{job.pk}/").status_code == 200
