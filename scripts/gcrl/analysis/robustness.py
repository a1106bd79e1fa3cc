"""Robustness: success as a function of a perturbation's severity, and its summaries.

A *family* is a perturbation with a grid of severities, from 0 (the nominal
environment) to the most severe value the chapter tests. A *degradation curve*
is the success rate of a set of trained policies (one per training seed) at each
severity, on fixed evaluation episodes that are the same at every severity, so
that two points of a curve differ only by the perturbation. Two summaries
condense a curve:

- the normalised area under it, the mean success over the family's severity
  axis rescaled to [0, 1] (trapezoidal rule; the axis is log(1 + severity) for
  multiplicative changes such as mass): it equals the nominal success for a
  policy that the perturbation does not affect;
- the half-success severity: where the curve, linearly interpolated, first
  falls to half its nominal value (``None`` if it never does within the grid).

Evaluations run on the course's scheduler (:mod:`gcrl.analysis.scheduler`), and each worker
loads a policy once from its checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gcrl.analysis.scheduler import run_parallel
from gcrl.core.errors import CourseError
from gcrl.rl import perturb
from gcrl.rl.evaluate import evaluate, evaluation_seeds, pooled

#: Evaluation episodes of this chapter start here: disjoint from training and from Chapter 4's evaluations.
ROBUSTNESS_SEED_BASE = 2_000_000
OBJECT_TASKS = ("FetchPush-v4", "FetchPickAndPlace-v4", "FetchSlide-v4")
ALL_TASKS = ("FetchReach-v4", *OBJECT_TASKS)


@dataclass(frozen=True)
class Family:
    """A perturbation and the severities at which the chapter measures it."""

    name: str
    unit: str
    severities: tuple[float, ...]
    tasks: tuple[str, ...]
    make: Callable[[gym.Env, float, int], gym.Env]
    log_axis: bool = False  # multiplicative changes are read, and summarised, on a log(1 + severity) axis

    @property
    def key(self) -> str:
        """The family's name as a JSON key: ``observation + achieved-goal noise`` -> ``observation_and_achieved_goal_noise``."""
        return self.name.replace(" + ", "_and_").replace(" ", "_").replace("-", "_")

    def axis(self, severities: list[float]) -> list[float]:
        """Where severities sit on the axis the curve is plotted and summarised on."""
        return [float(np.log1p(s)) for s in severities] if self.log_axis else [float(s) for s in severities]

    def __post_init__(self) -> None:
        if not self.severities or self.severities[0] != 0 or list(self.severities) != sorted(self.severities):
            raise CourseError(f"{self.name}: severities must start at 0 and increase, got {self.severities}")


FAMILIES: tuple[Family, ...] = (
    Family("observation noise", "std (m; m/step; rad)", (0, 0.0003, 0.001, 0.003, 0.01), ALL_TASKS,
           lambda env, s, seed: perturb.ObservationNoise(env, s, seed)),
    Family("observation + achieved-goal noise", "std (m; m/step; rad)", (0, 0.0003, 0.001, 0.003, 0.01), ALL_TASKS,
           lambda env, s, seed: perturb.ObservationNoise(env, s, seed, achieved_goal=True)),
    Family("action noise", "std (action units)", (0, 0.25, 0.5, 1.0, 2.0), ALL_TASKS,
           lambda env, s, seed: perturb.ActionNoise(env, s, seed)),
    Family("action delay", "control steps", (0, 1, 2, 4, 8), ALL_TASKS,
           lambda env, s, seed: perturb.ActionDelay(env, int(s), seed)),
    Family("sensor dropout", "probability", (0, 0.5, 0.75, 0.9, 0.97), ALL_TASKS,
           lambda env, s, seed: perturb.SensorDropout(env, s, seed)),
    Family("arm joint damping", "relative increase", (0, 99, 999, 9_999, 99_999), ALL_TASKS,
           lambda env, s, seed: perturb.PhysicsShift(env, "joint_damping", s, seed), log_axis=True),
    Family("goal range", "relative widening", (0, 0.25, 0.5, 1.0, 2.0), ALL_TASKS,
           lambda env, s, seed: perturb.GoalRangeShift(env, s, seed)),
    Family("contact friction loss", "relative decrease", (0, 0.25, 0.5, 0.75, 0.9), OBJECT_TASKS,
           lambda env, s, seed: perturb.PhysicsShift(env, "contact_friction", -s, seed)),
    Family("object mass", "relative increase", (0, 1, 3, 9, 19), OBJECT_TASKS,
           lambda env, s, seed: perturb.PhysicsShift(env, "object_mass", s, seed), log_axis=True),
    Family("goals in the air", "probability", (0, 0.25, 0.5, 0.75, 1.0), ("FetchPush-v4", "FetchSlide-v4"),
           lambda env, s, seed: perturb.GoalsInAir(env, s, seed)),
)


def family(name: str) -> Family:
    for candidate in FAMILIES:
        if candidate.name == name:
            return candidate
    raise CourseError(f"unknown perturbation family {name!r}; choose one of {', '.join(f.name for f in FAMILIES)}")


def families_for(env_id: str) -> list[Family]:
    return [f for f in FAMILIES if env_id in f.tasks]


def grid(chosen: Family, points: int) -> tuple[float, ...]:
    """``points`` severities of the family's grid: always 0 and the most severe, then evenly between."""
    if points < 2:
        raise CourseError(f"a degradation curve needs at least 2 severities, got {points}")
    values = chosen.severities
    picks = np.unique(np.round(np.linspace(0, len(values) - 1, min(points, len(values)))).astype(int))
    return tuple(values[i] for i in picks)


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicySource:
    """Where a trained policy lives: a checkpointed run of the book's SAC+HER and its config."""

    run_dir: str
    config: dict[str, Any]

    @property
    def seed(self) -> int:
        return int(self.config["seed"])


@lru_cache(maxsize=16)
def _policy(run_dir: str, config_json: str):
    import json

    from gcrl.rl.sac_her.config import SacHerConfig
    from gcrl.rl.sac_her.learner import load_agent

    agent, normalizer = load_agent(Path(run_dir), SacHerConfig.from_dict(json.loads(config_json)))
    return lambda observation: agent.act(normalizer(observation), deterministic=True)


def load_policy(source: PolicySource):
    """The deterministic policy of a checkpointed run (loaded once per process)."""
    import json

    return _policy(source.run_dir, json.dumps(source.config, sort_keys=True))


@dataclass(frozen=True)
class Job:
    """One point of a curve for one policy: a family at one severity, on ``episodes`` fixed episodes."""

    source: PolicySource
    family: str
    severity: float
    episodes: int
    noise_seed: int

    def run(self) -> dict[str, Any]:
        chosen = family(self.family)
        env_id = self.source.config["env_id"]
        policy = load_policy(self.source)
        seeds = evaluation_seeds(self.episodes, ROBUSTNESS_SEED_BASE)
        result = evaluate(env_id, policy, seeds, wrap=lambda env: chosen.make(env, self.severity, self.noise_seed))
        return {"family": self.family, "severity": self.severity, "seed": self.source.seed, **result.as_dict()}


def run_jobs(jobs: list[Job], workers: int | None = None) -> list[dict[str, Any]]:
    """Run evaluation jobs in parallel worker processes; results come back in the jobs' order."""
    return run_parallel(Job.run, [(job,) for job in jobs], "evaluation jobs", workers)


def run_grouped(jobs: dict[str, list[Job]], workers: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Run several named lists of jobs as one parallel batch; the results come back under the same names."""
    flat = run_jobs([job for group in jobs.values() for job in group], workers)
    grouped, start = {}, 0
    for name, group in jobs.items():
        grouped[name], start = flat[start:start + len(group)], start + len(group)
    return grouped


def curve_jobs(sources: list[PolicySource], chosen: Family, severities: tuple[float, ...], episodes: int,
               noise_seed: int) -> list[Job]:
    return [Job(source, chosen.name, float(s), episodes, noise_seed) for s in severities for source in sources]


def degradation_curve(evaluations: list[dict[str, Any]], family_name: str) -> list[dict[str, Any]]:
    """One point per severity of ``family_name``: successes pooled over seeds, per-seed rates kept."""
    mine = [e for e in evaluations if e["family"] == family_name]
    curve = []
    for severity in sorted({e["severity"] for e in mine}):
        at = [e for e in mine if e["severity"] == severity]
        curve.append({"severity": severity, **pooled(at),
                      "per_seed": {str(e["seed"]): e["success_rate"] for e in sorted(at, key=lambda e: e["seed"])}})
    return curve


# --- summaries -------------------------------------------------------------------------------


def normalised_area(severities: list[float], rates: list[float]) -> float:
    """Mean success over the severity axis rescaled to [0, 1] (trapezoidal rule)."""
    x, y = np.asarray(severities, float), np.asarray(rates, float)
    if len(x) < 2 or x[0] != 0 or np.any(np.diff(x) <= 0):
        raise CourseError(f"a curve needs increasing severities from 0, got {list(severities)}")
    x = x / x[-1]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def half_success_severity(severities: list[float], rates: list[float]) -> float | None:
    """The first severity at which the interpolated curve reaches half its nominal success; ``None`` if never."""
    x, y = np.asarray(severities, float), np.asarray(rates, float)
    half = y[0] / 2
    if y[0] == 0:
        return None  # a policy that never succeeds has nothing to lose
    for i in range(1, len(x)):
        if y[i] <= half:
            return float(x[i - 1] + (x[i] - x[i - 1]) * (y[i - 1] - half) / (y[i - 1] - y[i]))
    return None


def summary(curve: list[dict[str, Any]], chosen: Family) -> dict[str, Any]:
    """Nominal and worst success, the normalised area on the family's axis, the half-success severity."""
    severities = [p["severity"] for p in curve]
    rates = [p["success_rate"] for p in curve]
    half = half_success_severity(chosen.axis(severities), rates)
    if half is not None and chosen.log_axis:
        half = float(np.expm1(half))  # back from log(1 + severity) to the family's unit
    return {"nominal_success": rates[0], "worst_success": min(rates),
            "normalised_area": normalised_area(chosen.axis(severities), rates),
            "half_success_severity": half}


# --- what domain randomisation does to hindsight relabelling ---------------------------------


def hidden_parameter_spread(env_id: str, physics_ranges: tuple[tuple[str, float, float], ...], states: int,
                            draws: int, horizons: tuple[int, ...], seed: int) -> dict[str, Any]:
    """How far the achieved goal after the same state and actions spreads over draws of a hidden parameter.

    Hindsight relabelling with ``future`` rewards a transition for reaching the
    goal it happened to reach. If the next state is not a function of what the
    learner sees, that reward is one lucky draw: under another draw of the
    hidden parameter the same actions would have ended elsewhere. For each of
    ``states`` states (a random-action episode reset with seed ``seed + i``, cut at a
    random step), the simulator's state is saved, ``draws`` values of each
    ``(field, low, high)`` relative change are drawn as domain randomisation draws
    them, and for every draw the same random actions are replayed for ``h`` steps
    from the saved state, for each ``h`` in ``horizons``. Returned per horizon: the
    mean distance between the achieved goals of two draws, and the fraction of
    pairs of draws whose achieved goals lie more than the success
    threshold apart. At ``h = 1`` that fraction is the chance that a relabelled reward of 0 computed under one
    draw is -1 under another; at ``h > 1`` it is the chance that the same open-loop actions miss, by more than
    the threshold, a goal they reached under another draw: a proxy for the optimism of the relabelled value
    target (which bootstraps through the policy, closed-loop), not its size.
    """
    import mujoco

    from gcrl.rl.envs import episode_length, make_fetch_env

    env = make_fetch_env(env_id)
    fetch = env.unwrapped
    # a distinct stream per field, as perturb.randomised seeds them: the fields' draws are independent
    shifts = [perturb.PhysicsShift(env, field, (low, high), seed=seed * 16 + index)
              for index, (field, low, high) in enumerate(physics_ranges)]
    threshold = float(fetch.distance_threshold)
    rng = np.random.default_rng(seed)
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    saved = np.empty(mujoco.mj_stateSize(fetch.model, spec))
    spread = {h: [] for h in horizons}
    disagree = {h: [] for h in horizons}
    try:
        for i in range(states):
            for shift in shifts:
                shift.restore()
            env.reset(seed=seed + i)
            for _ in range(int(rng.integers(0, episode_length(env_id) - max(horizons)))):
                fetch.step(env.action_space.sample())
            actions = rng.uniform(-1, 1, size=(max(horizons), *env.action_space.shape)).astype(np.float32)
            mujoco.mj_getState(fetch.model, fetch.data, saved, spec)
            reached = {h: [] for h in horizons}
            for _ in range(draws):
                for shift in shifts:
                    shift.before_reset()  # one domain-randomisation draw of this field
                mujoco.mj_setState(fetch.model, fetch.data, saved, spec)
                mujoco.mj_forward(fetch.model, fetch.data)
                for step, action in enumerate(actions, start=1):
                    observation, *_ = fetch.step(action)
                    if step in reached:
                        reached[step].append(observation["achieved_goal"])
            pairs = np.triu_indices(draws, k=1)
            for h in horizons:
                goals = np.array(reached[h])
                distances = np.linalg.norm(goals[:, None] - goals[None], axis=-1)[pairs]
                spread[h].append(float(distances.mean()))
                disagree[h].append(float(np.mean(distances > threshold)))
    finally:
        for shift in shifts:
            shift.restore()
        env.close()
    return {"env_id": env_id, "physics_ranges": [list(r) for r in physics_ranges], "states": states, "draws": draws,
            "threshold": threshold,
            "horizons": {str(h): {"mean_pair_distance_m": float(np.mean(spread[h])),
                                  "pairs_beyond_threshold": float(np.mean(disagree[h]))} for h in horizons}}
