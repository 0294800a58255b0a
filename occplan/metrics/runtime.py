"""Per-call wall times of the model, the planner and the simulator: ``runtime/<component>_ms``, the
median over a pass's calls in milliseconds (NaN without a call). ``RUNTIME_SPEC`` is its registry
entry, ``runtime_ms``."""

from __future__ import annotations

import numpy as np

from occplan.metrics.records import RUNTIME_COMPONENTS, StepRuntime
from occplan.metrics.registry import MetricContext, MetricSpec


class RuntimeMetric:
    """Streaming ``runtime/{model,planner,sim}_ms``; ``calls_ms`` holds every call's wall time."""

    def __init__(self) -> None:
        self.calls_ms: dict[str, list[float]] = {k: [] for k in RUNTIME_COMPONENTS}

    def update(self, record: StepRuntime) -> None:
        self.calls_ms[record.component].append(float(record.ms))

    def compute(self) -> dict[str, float]:
        return {f"runtime/{k}_ms": float(np.median(v)) if v else float("nan") for k, v in self.calls_ms.items()}

    def state(self) -> dict:
        """JSON-able state (the calls per component); ``merge_state`` appends them."""
        return {k: list(v) for k, v in self.calls_ms.items()}

    def merge_state(self, state: dict) -> None:
        for k in RUNTIME_COMPONENTS:
            self.calls_ms[k].extend(float(v) for v in state[k])


def _create(context: MetricContext) -> RuntimeMetric:
    return RuntimeMetric()


# The closed-loop pass re-simulates its sensors: when it ran, its runtimes are the run's (its keys,
# assembled after the open pass's, replace them).
RUNTIME_SPEC = MetricSpec(
    name="runtime_ms",
    version=1,
    passes={"open": "", "closed": ""},
    record=StepRuntime,
    create=_create,
    update=RuntimeMetric.update,
    compute=RuntimeMetric.compute,
)
