"""Which stored transactions a chunk job will still process: the sweeper leaves those alone
and re-enqueues the rest, so a row whose job was lost waits a minute, not a quarter hour."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from flask import current_app
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from workers.queues import CHUNK_JOB, FEED_QUEUE, Queues

FETCH_BATCH = 500  # job hashes read per round trip


def _pending_job_ids(feed: Queue) -> list[str]:
    """Ids of the feed's jobs that a worker will run or is running under a live lease."""
    started = StartedJobRegistry(queue=feed)
    # RQ's abandoned-job step first: runs whose lease expired (a killed worker) go to their
    # retry, in the scheduled registry, or to the failed one (then their rows are ours).
    # Under RQ's own lock, so a worker cleaning at the same moment does not retry them twice.
    if feed.acquire_maintenance_lock():
        try:
            started.cleanup()
        finally:
            feed.release_maintenance_lock()
    # Read along a job's way (queued -> being dequeued -> running; a retry is scheduled):
    # a job moving on while we read shows up in its next place. One missed anyway costs a
    # duplicate job, which finds its rows processed or locked and does nothing.
    ids = feed.get_job_ids()
    ids += feed.intermediate_queue.get_job_ids()
    ids += started.get_job_ids(cleanup=False)
    ids += ScheduledJobRegistry(queue=feed).get_job_ids(cleanup=False)
    return list(dict.fromkeys(ids))


def _jobs(feed: Queue, job_ids: list[str]) -> Iterator[Job]:
    for start in range(0, len(job_ids), FETCH_BATCH):
        batch = job_ids[start : start + FETCH_BATCH]
        for job in Job.fetch_many(batch, connection=feed.connection):
            if job is not None:
                yield job


def held_transaction_ids(candidates: Sequence[int]) -> set[int]:
    """The `candidates` that some pending chunk job of the feed queue will process."""
    if current_app.config["JOBS_INLINE"]:
        return set()  # embedded mode: no queue holds anything
    queues: Queues = current_app.extensions["rewards_queues"]
    feed = queues.queue(FEED_QUEUE)
    wanted = set(candidates)
    held: set[int] = set()
    for job in _jobs(feed, _pending_job_ids(feed)):
        if job.func_name == CHUNK_JOB and job.args:
            held.update(wanted.intersection(job.args[0]))
    return held
