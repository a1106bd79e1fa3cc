"""A GPU probe that fits a short lease: ``make bench-gpu``, or ``python scripts/gpu_probe.py --out DIR``.

It measures, in one command of a few minutes on a machine with one NVIDIA GPU and
many cores, what the book's SAC+HER gains from the GPU (Chapter 4, §3.2):

1. **Push on the GPU** (first: it is the headline). ``gcrl train`` of the Push recipe with
   the update on ``cuda`` and the collector spread over the cores (``collector_processes``),
   for a fixed wall-clock budget; its curve gives env steps and updates per second and the
   success reached.
2. **Gradient steps.** Milliseconds per gradient step of :func:`gcrl.rl.sac_her.algorithm.update`
   at the Push recipe's size (3 x 128, batch 512) and a larger one (3 x 256, batch 2,048), for
   each device (``cpu`` on one thread, as the recipe runs; ``cuda`` where there is one) and each
   ``compile_mode`` the device allows. Each case runs in a process of its own with a time limit,
   so a slow compilation or a failure is recorded as that case's error and the probe goes on.

The record (``gpu_probe.json``) is rewritten after every case, with provenance, so a probe cut
short by its lease still leaves what it measured. Its CPU path (tiny sizes, ``--tiny``) runs in
the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gcrl.analysis.bench_push import run_for, summarise
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import RunRecord
from gcrl.core.seeds import REPORTING_SEED_BASE, seed_role

PUSH = "FetchPush-v4"
#: The Push run's seed: its figures are printed (Chapter 4, §3.2), so a reporting seed
PROBE_SEED = REPORTING_SEED_BASE
#: name -> (net_arch, batch_size): the recipe's size and a larger one, where a GPU should pay
SIZES: dict[str, tuple[tuple[int, ...], int]] = {"recipe": ((128, 128, 128), 512), "large": ((256, 256, 256), 2048)}
TINY_SIZES: dict[str, tuple[tuple[int, ...], int]] = {"tiny": ((16, 16), 32)}


def step_case(net_arch: tuple[int, ...], batch_size: int, device: str, compile_mode: str, warmup: int,
              repeats: int, steps: int) -> dict[str, Any]:
    """Milliseconds per gradient step of the book's update on random minibatches: the median over ``repeats``
    timings of ``steps`` steps each, after ``warmup`` steps (where compilation happens, timed apart)."""
    import torch

    from gcrl.rl.envs import ACTION_DIM, observation_dims
    from gcrl.rl.sac_her.algorithm import Agent, update
    from gcrl.rl.sac_her.learner import compile_networks

    torch.manual_seed(0)
    torch.set_num_threads(1)  # the recipe's learner thread (torch_threads: 1)
    where = torch.device(device)
    obs_dim = sum(observation_dims(PUSH).values())
    agent = Agent(obs_dim, ACTION_DIM, net_arch, 1e-3, 0.05).to(where)
    compile_networks(agent, compile_mode, where)
    batch = (torch.randn(batch_size, obs_dim, device=where), torch.rand(batch_size, ACTION_DIM, device=where) * 2 - 1,
             -(torch.rand(batch_size, device=where) < 0.9).float(), torch.randn(batch_size, obs_dim, device=where))

    def run(n: int) -> float:
        if where.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            update(agent, *batch, gamma=0.98, tau=0.05, target_bounds=(-50.0, 0.0))
        if where.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    warm_s = run(warmup)
    timings = [run(steps) / steps * 1e3 for _ in range(repeats)]
    return {"ms_per_step": round(statistics.median(timings), 4), "ms_per_step_all": [round(t, 4) for t in timings],
            "warmup_s": round(warm_s, 2), "steps_timed": repeats * steps,
            "sample_gradients_per_s": round(batch_size / (statistics.median(timings) / 1e3))}


def cases(devices: list[str], compile_modes: list[str], sizes: dict[str, tuple[tuple[int, ...], int]]):
    """Every (size, device, compile_mode) the probe measures; ``reduce-overhead`` (CUDA graphs) on CUDA only."""
    for size in sizes:
        for device in devices:
            for mode in compile_modes:
                if mode == "reduce-overhead" and device != "cuda":
                    continue
                yield size, device, mode


def measure_case(size: str, device: str, mode: str, sizes: dict[str, tuple[tuple[int, ...], int]], warmup: int,
                 repeats: int, steps: int, limit_s: float) -> dict[str, Any]:
    """:func:`step_case` in a process of its own, stopped after ``limit_s``: a result or that case's error."""
    net_arch, batch_size = sizes[size]
    spec = json.dumps({"net_arch": net_arch, "batch_size": batch_size, "device": device, "compile_mode": mode,
                       "warmup": warmup, "repeats": repeats, "steps": steps})
    case = {"size": size, "net_arch": list(net_arch), "batch_size": batch_size, "device": device, "compile_mode": mode}
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--case", spec], capture_output=True, text=True,
                              timeout=limit_s)
    except subprocess.TimeoutExpired:
        return {**case, "error": f"timed out after {limit_s:.0f} s", "wall_s": round(time.perf_counter() - t0, 1)}
    if done.returncode:
        return {**case, "error": (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1][:500],
                "wall_s": round(time.perf_counter() - t0, 1)}
    return {**case, **json.loads(done.stdout.strip().splitlines()[-1]), "wall_s": round(time.perf_counter() - t0, 1)}


def push_case(device: str, budget_s: float, runs: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """``gcrl train`` of the Push recipe on ``device`` for ``budget_s`` of wall clock: what its curve reached."""
    cores, n_envs = os.cpu_count() or 1, overrides.get("n_envs", 8)  # the recipe's 8 environments
    settings = {"collector": "process", "collector_processes": max(1, min(n_envs, cores - 2)), **overrides}
    arguments = ["--algo", "sac+her", "--env", PUSH, "--steps", "4000000", "--seed", str(PROBE_SEED), "--device", device,
                 "--eval-every", str(settings.pop("eval_every", 40_000)),
                 "--eval-episodes", str(settings.pop("eval_episodes", 50)),
                 "--checkpoint-every", str(settings.pop("checkpoint_every", 400_000)), "--run-dir", str(runs)]
    for key, value in settings.items():
        arguments += ["--set", f"{key}={json.dumps(value)}"]
    case = {"device": device, "budget_s": budget_s, "settings": {"device": device, **settings}, "seed": PROBE_SEED,
            "seed_set": seed_role(PROBE_SEED)}
    curve_file = runs / "curve.json"
    try:  # a run that has not evaluated once at the budget (a busy host) is given a minute more to do so
        wall = run_for(arguments, budget_s, until=curve_file.is_file, grace_s=60.0)
    except Exception as error:  # the run stopped before its budget: record why and go on
        return {**case, "error": str(error)[-1500:]}
    curve = json.loads(curve_file.read_text()) if curve_file.is_file() else []
    return {**case, "summary": summarise(curve, wall), "curve": curve}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("_build/bench"), help="folder for gpu_probe.json")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and budgets: the test suite's CPU path")
    parser.add_argument("--devices", nargs="+", default=None, help="default: cpu, and cuda where torch finds it")
    parser.add_argument("--compile-modes", nargs="+", default=["none", "default", "reduce-overhead"])
    parser.add_argument("--case-limit-s", type=float, default=60.0, help="time limit of one gradient-step case")
    parser.add_argument("--push-s", type=float, default=90.0, help="wall clock of the Push run (0: none)")
    parser.add_argument("--parts", nargs="+", choices=("push", "steps"), default=["push", "steps"],
                        help="what to measure (default both): the Push run, the gradient-step cases")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case:  # one gradient-step case, in the process measure_case started
        spec = json.loads(args.case)
        print(json.dumps(step_case(tuple(spec["net_arch"]), spec["batch_size"], spec["device"], spec["compile_mode"],
                                   spec["warmup"], spec["repeats"], spec["steps"])))
        return 0
    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    sizes = TINY_SIZES if args.tiny else SIZES
    warmup, repeats, steps = (3, 2, 5) if args.tiny else (30, 5, 40)
    run = RunRecord(profile="gpu-probe", seeds=[PROBE_SEED])
    record: dict[str, Any] = {"probe": {"sizes": {k: {"net_arch": list(a), "batch_size": b} for k, (a, b) in sizes.items()},
                                        "devices": devices, "compile_modes": args.compile_modes,
                                        "warmup_steps": warmup, "repeats": repeats, "steps_per_repeat": steps,
                                        "case_limit_s": args.case_limit_s, "push_s": args.push_s, "tiny": args.tiny,
                                        "parts": args.parts,
                                        "cores": os.cpu_count()},
                              "gradient_steps": [], "push": [], "provenance": run.snapshot()}
    out = args.out / "gpu_probe.json"

    def save() -> None:
        record["provenance"] = run.snapshot()
        write_json_atomic(out, record)

    if "push" in args.parts and args.push_s > 0:
        overrides = ({"net_arch": [16, 16], "n_envs": 2, "batch_size": 32, "updates_per_cycle": 5,
                      "learning_starts": 100, "eval_every": 200, "eval_episodes": 2, "checkpoint_every": 200}
                     if args.tiny else {})
        for device in [d for d in devices if d == "cuda"] or devices[:1]:
            with tempfile.TemporaryDirectory() as runs:
                result = push_case(device, args.push_s, Path(runs) / device, dict(overrides))
            record["push"].append(result)
            save()
            summary = result.get("summary") or {}
            print(f"gpu probe: Push on {device}: {summary.get('last') or result.get('error')}", flush=True)
    for size, device, mode in cases(devices, args.compile_modes, sizes) if "steps" in args.parts else ():
        result = measure_case(size, device, mode, sizes, warmup, repeats, steps, args.case_limit_s)
        record["gradient_steps"].append(result)
        save()
        print(f"gpu probe: {size} {device} {mode}: "
              f"{result.get('ms_per_step', result.get('error'))} ms/step", flush=True)
    save()
    print(f"gpu probe: record in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
