"""Managing a job over HTTP: cancel, retry and delete, through the spool (``ttvd.control``)."""
from __future__ import annotations

import bottle

from ttvd import control
from ttvd.answers import json_response, route
from ttvd.config import Settings
from ttvd.job import JobStatus
from ttvd.spool import Spool

CANCELLING = "Cancel requested; the job's daemon stops it within seconds"


def register(app: bottle.Bottle, settings: Settings, spool: Spool) -> None:
    @route(app, "/api/v1/jobs/<job_id>/cancel", "POST")
    def cancel(job_id: str):
        state = control.cancel(spool, job_id, settings)
        if state.status is JobStatus.CANCELLED:
            return json_response(200, {"job_id": job_id, "status": state.status.value, "message": state.message})
        return json_response(202, {"job_id": job_id, "status": state.status.value, "message": CANCELLING})

    @route(app, "/api/v1/jobs/<job_id>/retry", "POST")
    def retry(job_id: str):
        state = control.retry(spool, job_id)
        return json_response(202, {"job_id": job_id, "status": state.status.value, "message": state.message})

    @route(app, "/api/v1/jobs/<job_id>", "DELETE")
    def delete(job_id: str):
        control.delete(spool, job_id, settings=settings)
        return json_response(200, {"job_id": job_id, "deleted": True, "message": "Job and its files deleted"})
