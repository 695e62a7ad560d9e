"""RQ's scheduler process, tied to the worker that started it.

RQ forks its scheduler as a separate process that renews the scheduler lock every second.
If only the worker's main process is killed (`kill -9 <pid>`, the OOM killer), that child
lives on as an orphan, holding the lock for good, and no restarted worker ever schedules.
This one notices that its parent is gone and stops, giving the lock back."""

from __future__ import annotations

import os
from multiprocessing.process import BaseProcess

from rq.scheduler import RQScheduler


class SupervisedScheduler(RQScheduler):
    """An `RQScheduler` that stops (releasing its locks) once the worker that started it dies."""

    _parent_pid: int | None = None

    def start(self) -> BaseProcess:
        """Fork the scheduler process, remembering who its parent is."""
        self._parent_pid = os.getpid()
        process: BaseProcess = super().start()
        return process

    def heartbeat(self) -> None:
        """Renew the locks, unless the worker is gone: then stop at the top of the next loop
        (`RQScheduler.work` releases the locks and registers the death)."""
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            self.log.warning("Scheduler %s: its worker died; stopping", self.name)
            self.request_stop()
            return
        super().heartbeat()
