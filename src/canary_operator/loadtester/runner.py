"""Runs tasks under the load tester's timeout, and never the same background task twice.

Flagger's runner queues background tasks and starts them on its next 100 ms tick; this one
starts them at once, with the same rule: a task whose canary and command match one that is
still running is skipped.
"""

from __future__ import annotations

import asyncio
import logging

from canary_operator.loadtester.metrics import LoadtesterMetrics
from canary_operator.loadtester.tasks import Task, TaskResult, task_key

log = logging.getLogger("canary_operator.loadtester")


class TaskRunner:
    def __init__(self, timeout: float, metrics: LoadtesterMetrics | None = None) -> None:
        self.timeout = timeout
        self.metrics = metrics or LoadtesterMetrics()
        self.executions = 0
        self._running: dict[tuple[str, str], asyncio.Task[TaskResult]] = {}

    def running(self) -> list[tuple[str, str]]:
        """(canary, command) of the background tasks running now."""
        return [key for key, handle in self._running.items() if not handle.done()]

    def start(self, task: Task) -> bool:
        """Start `task` in the background; False when the same one is still running."""
        key = task_key(task)
        existing = self._running.get(key)
        if existing is not None and not existing.done():
            self.metrics.tasks.labels(task.kind, "skipped").inc()
            log.info("%s: command skipped, %r is already running", task.canary, task.command)
            return False
        handle = asyncio.get_running_loop().create_task(
            self.run(task), name=f"loadtester task {task.canary}: {task.command}")
        self._running[key] = handle

        def forget(done: asyncio.Task[TaskResult]) -> None:
            if self._running.get(key) is done:
                del self._running[key]

        handle.add_done_callback(forget)
        return True

    async def run(self, task: Task) -> TaskResult:
        """Run `task` to its end or to the timeout, counting and logging it."""
        self.executions += 1
        self.metrics.running.inc()
        log.info("%s: task starting %s", task.canary, task.command)
        try:
            async with asyncio.timeout(self.timeout):
                result = await task.run()
        except TimeoutError:
            result = TaskResult(False, f"command {task.command!r} timed out after "
                                       f"{self.timeout:g}s")
        except Exception as error:  # one task's failure never stops the load tester
            log.exception("%s: task %s crashed", task.canary, task.command)
            result = TaskResult(False, f"command {task.command!r} failed: "
                                       f"{type(error).__name__}: {error}")
        finally:
            self.metrics.running.dec()
        self.metrics.tasks.labels(task.kind, "succeeded" if result.ok else "failed").inc()
        if not result.ok:
            log.error("%s: %s", task.canary, result.tail())
        else:
            if task.log_output:
                log.info("%s: %s", task.canary, result.output.rstrip())
            log.info("%s: command finished %s", task.canary, task.command)
        return result

    async def wait(self) -> None:
        """Until every background task running now has ended."""
        handles = [h for h in self._running.values() if not h.done()]
        if handles:
            await asyncio.wait(handles)

    async def shutdown(self) -> None:
        """Cancel the background tasks (their subprocesses are killed) and wait for them."""
        handles = [h for h in self._running.values() if not h.done()]
        for handle in handles:
            handle.cancel()
        if handles:
            await asyncio.wait(handles)
