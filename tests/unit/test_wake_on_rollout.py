"""A Canary waiting for a rollout is woken by a watch event of its primary or canary
Deployment instead of waiting for its timer; once it no longer waits, such events leave it
asleep."""

from __future__ import annotations

import asyncio

from kubernetes.aio.client import ApiClient

from canary_operator.analysis import Reason
from canary_operator.api import Canary, CanaryStatus, Phase
from canary_operator.controller import CanaryController
from canary_operator.settings import OperatorSettings

CANARY = Canary.model_validate({
    "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
    "metadata": {"name": "podinfo", "namespace": "test", "uid": "u1"},
    "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
             "service": {"port": 9898}, "analysis": {"interval": "1m"}},
})
WAITING = CanaryStatus(phase=Phase.PROGRESSING, reason=Reason.CANARY_NOT_READY.value)
STEPPING = CanaryStatus(phase=Phase.PROGRESSING, reason=Reason.ADVANCED.value)


class NeverStopped:
    async def wait(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def test_a_deployment_event_wakes_only_the_canaries_waiting_for_it() -> None:
    api = ApiClient()
    controller = CanaryController(api, OperatorSettings(), post_event=lambda _b, _e: None)
    try:
        controller._await_rollouts("u1", CANARY, WAITING)
        sleeper = asyncio.create_task(controller.sleep("u1", NeverStopped(), 60))
        await asyncio.sleep(0)
        controller.wake_on_deployment("test", "other")
        controller.wake_on_deployment("elsewhere", "podinfo-primary")
        for _ in range(10):
            await asyncio.sleep(0)
        assert not sleeper.done()
        controller.wake_on_deployment("test", "podinfo-primary")
        await asyncio.wait_for(sleeper, timeout=5)  # woken long before its 60 s

        controller._await_rollouts("u1", CANARY, STEPPING)
        sleeper = asyncio.create_task(controller.sleep("u1", NeverStopped(), 60))
        controller.wake_on_deployment("test", "podinfo")
        for _ in range(10):
            await asyncio.sleep(0)
        assert not sleeper.done()
        sleeper.cancel()
        controller._await_rollouts("u1", CANARY, WAITING)
        controller.forget("u1")
        assert controller._awaiting == {}
    finally:
        await controller.aclose()
        await api.close()
