"""Scale-out of the harness over Ray (``occplan.harness.ray_pool``) on the tiny generated set, each run's
summary compared with the same run in process:

* a Ray worker process SIGKILLed while it is inside a scenario: the scenario runs again on another
  worker and the run's summary equals the undisturbed one, one record per scenario;
* a scenario whose worker is killed on every attempt: after Ray's retries the run stops with an error
  naming it, the scenario that finished before is recorded, and ``--resume`` completes the run;
* a Python exception in a scenario: raised once, not retried;
* a cluster of two local Ray nodes (``ray start --head`` + ``ray start --address``), joined with
  ``ray_address``: both nodes run a scenario.

Where the scenarios stand is controlled from outside the harness by a gate: ``GatedOracle``, the
oracle model whose ``reset`` (start of a scene, once per pass) records its arrival in a gate folder and
waits there until the test opens that scene. A scenario held at its gate is therefore certainly inside
its Ray task when it is killed; the process to kill is found as a descendant of this process whose
title is ``ray::run_scenario`` (the title Ray gives a worker while it runs that task). The model's
class and factory travel to the workers pickled by value (a test module is not importable there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import planners
from models.oracle import OracleModel
from occplan.harness import runner
from occplan.harness.config import RunConfig
from occplan.harness.plugins import PluginFactory, Plugins
from occplan.harness.ray_pool import SYSTEM_FAILURE_RETRIES, ScenarioLostError
from run_closed_loop import main

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'ray[default]')")
psutil = pytest.importorskip("psutil", reason="psutil ships with ray (ray/thirdparty_files)")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SCENES = ("scene-0000", "scene-0001")  # the tiny set, in scene order
DECISIONS = 3
GATE_TIMEOUT_S = 300.0
"""A gate opens by itself after this long, so that a broken test fails instead of hanging."""
TASK_TITLE = "ray::run_scenario"


# --- the gate: model side (runs in the Ray workers) ---------------------------------------------------
class GatedOracle(OracleModel):
    """The oracle model, held at the start of every scene until the test opens it. ``reset(scene)``
    first writes ``<scene>@<pid>@<unique>.arrived`` (holding the Ray node id) in the gate folder, then
    waits for ``<scene>.open``; a ``<scene>.fail`` file makes it raise instead (a scenario's own error)."""

    def __init__(self, gate: str) -> None:
        super().__init__()
        self.gate = Path(gate)

    def reset(self, scene_name: str | None) -> None:
        if scene_name is not None:
            node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else ""
            (self.gate / f"{scene_name}@{os.getpid()}@{uuid.uuid4().hex}.arrived").write_text(node)
            deadline = time.monotonic() + GATE_TIMEOUT_S
            while not (self.gate / f"{scene_name}.open").exists() and time.monotonic() < deadline:
                if (self.gate / f"{scene_name}.fail").exists():
                    raise RuntimeError(f"{scene_name}: failure requested by the test")
                time.sleep(0.02)
        super().reset(scene_name)


def gated_oracle(name: str, options: dict) -> GatedOracle:
    """The model factory of the gated runs (``PluginFactory``): ``options = {"gate": folder}``."""
    assert name == "oracle"
    return GatedOracle(options["gate"])


# --- the gate: test side ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Arrival:
    """One start of a scene at the gate: the scene, the process that started it and its Ray node id."""

    scene: str
    pid: int
    node_id: str


class Gate:
    """The test's side of a gate folder (see ``GatedOracle``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def arrivals(self, scene: str | None = None) -> list[Arrival]:
        found = []
        for p in self.folder.glob("*.arrived"):
            name, pid, _ = p.stem.split("@")
            if scene in (None, name):
                found.append(Arrival(name, int(pid), p.read_text()))
        return found

    def open(self, *scenes: str) -> None:
        for scene in scenes:
            (self.folder / f"{scene}.open").touch()

    def fail(self, scene: str) -> None:
        (self.folder / f"{scene}.fail").touch()


@contextmanager
def controlled(gate: Gate, step: Callable[[Gate], bool]) -> Iterator[None]:
    """Run ``step(gate)`` every 20 ms in a thread while the body runs, until it returns True. An error of
    ``step`` opens every scene (no worker is left waiting) and is raised here at the end."""
    stop, errors = threading.Event(), []

    def loop() -> None:
        try:
            while not stop.is_set() and not step(gate):
                time.sleep(0.02)
        except Exception as e:
            errors.append(e)
            gate.open(*SCENES)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        gate.open(*SCENES)
    if errors:
        raise errors[0]


def scenario_workers() -> dict[int, psutil.Process]:
    """The Ray worker processes under this process that run a scenario task, by pid."""
    found = {}
    for p in psutil.Process().children(recursive=True):
        try:
            title = p.cmdline()
        except psutil.Error:
            continue
        if title and title[0].startswith(TASK_TITLE):
            found[p.pid] = p
    return found


def kill(p: psutil.Process) -> None:
    p.kill()  # SIGKILL
    p.wait(timeout=30)


# --- runs ----------------------------------------------------------------------------------------------
def comparable(summary: dict) -> dict:
    """The summary without what legitimately differs between runs (config paths, wall times)."""
    return {k: v for k, v in summary.items() if k != "config" and not k.startswith("runtime/")}


def recorded(out: Path) -> list[str]:
    """The scenario of each line of results.jsonl, sorted (a duplicate shows twice)."""
    return sorted(json.loads(line)["scenario"] for line in (out / "results.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def in_process(tiny_dataroot, tmp_path_factory) -> dict:
    """The undisturbed run in process: its summary."""
    out = tmp_path_factory.mktemp("in_process") / "run"
    args = ["--model", "oracle", "--planner", "constant_velocity", "--data", str(tiny_dataroot), "--split", "all"]
    assert main([*args, "--max-decisions", str(DECISIONS), "--no-plots", "--out", str(out)]) == 0
    return comparable(json.loads((out / "summary.json").read_text()))


def gated_run(dataroot: Path, out: Path, gate: Gate, **config) -> dict:
    """``runner.run`` of the gated oracle and the constant-velocity planner over both tiny scenes."""
    cfg = RunConfig(
        model="oracle", planner="constant_velocity", data=str(dataroot), split=None, max_decisions=DECISIONS,
        out=str(out), plots=False, model_options={"gate": str(gate.folder)}, **config,
    )  # fmt: skip
    plugins = Plugins(
        PluginFactory.of(gated_oracle, "oracle", cfg.model_options),
        PluginFactory.of(planners.create_with_options, "constant_velocity", {}),
    )
    return comparable(runner.run(cfg, plugins))


@contextmanager
def two_node_cluster() -> Iterator[str]:
    """A head node and a second node, 1 CPU each, on this machine (``ray start``, loopback address, a
    temporary ``--temp-dir``); yields the head's address. Without token authentication (a loopback
    cluster that lives for one test). Stopped in the end by terminating the processes it started (the
    ones whose command line names its temp dir or address, and their children), not with ``ray stop``,
    which would stop every Ray runtime of the user on the machine."""
    temp_dir = tempfile.mkdtemp(prefix="occplan-ray-")  # short: Ray's socket paths must fit 107 bytes
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    node = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--temp-dir", temp_dir,
            "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]  # fmt: skip
    ray_cli = [sys.executable, "-m", "ray.scripts.scripts", "start"]
    address = None
    try:
        head = [*ray_cli, "--head", "--port", "0", "--include-dashboard", "false", *node]
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=120)
        address = (Path(temp_dir) / "ray_current_cluster").read_text().strip()
        subprocess.run([*ray_cli, "--address", address, *node], env=env, check=True, capture_output=True, timeout=120)
        yield address
    finally:
        _terminate([temp_dir, *([address] if address else [])])
        shutil.rmtree(temp_dir, ignore_errors=True)


def _terminate(marks: list[str]) -> None:
    """Terminate (then kill) the processes whose command line contains one of ``marks``, with their children."""
    found: dict[int, psutil.Process] = {}
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and any(m in arg for arg in p.cmdline() for m in marks):
                found |= {q.pid: q for q in [p, *p.children(recursive=True)]}
        except psutil.Error:
            continue
    for p in found.values():
        try:
            p.terminate()
        except psutil.Error:
            pass
    for p in psutil.wait_procs(list(found.values()), timeout=15)[1]:
        p.kill()


# --- tests ---------------------------------------------------------------------------------------------
class TestLocalRuntime:
    """On one local Ray runtime of 2 CPUs started here (the harness joins it, as it joins any running one)."""

    @pytest.fixture(scope="class", autouse=True)
    def local_ray(self) -> Iterator[None]:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        yield
        ray.shutdown()

    def test_a_worker_killed_inside_a_scenario_is_replaced(self, in_process, tiny_dataroot, tmp_path):
        gate, killed = Gate(tmp_path / "gate"), []

        def kill_one_when_both_held(g: Gate) -> bool:
            held = {a.pid: a for a in g.arrivals()}
            victims = [p for pid, p in scenario_workers().items() if pid in held]
            if {a.scene for a in held.values()} != set(SCENES) or not victims:
                return False
            killed.append(held[victims[0].pid])
            kill(victims[0])
            g.open(*SCENES)
            return True

        with controlled(gate, kill_one_when_both_held):
            summary = gated_run(tiny_dataroot, tmp_path / "run", gate, workers=2)
        [victim] = killed
        assert {a.pid for a in gate.arrivals(victim.scene)} - {victim.pid}, "the scenario ran again elsewhere"
        assert recorded(tmp_path / "run") == list(SCENES)
        assert summary == in_process

    def test_a_scenario_lost_on_every_attempt_stops_the_run_and_resume_completes_it(
        self, in_process, tiny_dataroot, tmp_path
    ):
        (first, last), gate, killed = SCENES, Gate(tmp_path / "gate"), set()
        gate.open(first)

        def kill_every_attempt_of_last(g: Gate) -> bool:
            for a in g.arrivals(last):
                worker = scenario_workers().get(a.pid)
                if a.pid not in killed and worker is not None:
                    killed.add(a.pid)
                    kill(worker)
            return False

        out = tmp_path / "run"
        with controlled(gate, kill_every_attempt_of_last), pytest.raises(ScenarioLostError, match=last):
            gated_run(tiny_dataroot, out, gate, workers=1)  # one scenario in flight: `first` ends before `last`
        assert len(killed) == len(gate.arrivals(last)) == SYSTEM_FAILURE_RETRIES + 1
        assert recorded(out) == [first]
        assert gated_run(tiny_dataroot, out, gate, workers=2, resume=True) == in_process
        assert recorded(out) == list(SCENES)

    def test_an_exception_in_a_scenario_is_raised_once(self, tiny_dataroot, tmp_path):
        scene, gate = SCENES[0], Gate(tmp_path / "gate")
        gate.fail(scene)
        with pytest.raises(RuntimeError, match="failure requested by the test") as raised:
            gated_run(tiny_dataroot, tmp_path / "run", gate, scenes=(scene,), workers=1)
        assert isinstance(raised.value, ray.exceptions.RayTaskError)  # the scenario's own error, as Ray raises it
        assert len(gate.arrivals(scene)) == 1  # not retried
        assert recorded(tmp_path / "run") == []


@pytest.mark.slow
def test_two_ray_nodes_each_run_a_scenario(in_process, tiny_dataroot, tmp_path):
    gate = Gate(tmp_path / "gate")

    def open_when_both_held(g: Gate) -> bool:
        if {a.scene for a in g.arrivals()} != set(SCENES):
            return False
        g.open(*SCENES)
        return True

    with two_node_cluster() as address, controlled(gate, open_when_both_held):
        summary = gated_run(tiny_dataroot, tmp_path / "run", gate, ray_address=address)
    # both scenarios were held at once, each on a 1-CPU node: one on each node
    assert len({a.node_id for a in gate.arrivals()}) == 2
    assert recorded(tmp_path / "run") == list(SCENES)
    assert summary == in_process
