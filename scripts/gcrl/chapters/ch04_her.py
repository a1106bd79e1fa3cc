"""Chapter 4: Hindsight Experience Replay.

Every run of the chapter is planned here, by name, from the profile's budget:
SAC+HER on Reach, SAC with and without hindsight (k = 0) on Push, the
ablation over k and the goal-selection strategy, and in the full profile the
long runs of SAC+HER and TQC+HER on Push, PickAndPlace and Slide. The plan is
trained as one grid (longest runs first, one worker per core, or as Ray tasks
on the cluster ``GCRL_RAY_ADDRESS`` names); runs that two experiments share,
such as the recipe's k = 4 "future" run on the ablation's task, are trained once.
What the chapter says about the recipe itself is :mod:`gcrl.chapters.ch04_recipe`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gcrl.analysis import experiments
from gcrl.analysis.scheduler import train_plan
from gcrl.core.provenance import RunRecord
from gcrl.course.deliverables import Upstream, declared_range
from gcrl.course.profiles import HerBudget
from gcrl.rl import her
from gcrl.rl.envs import make_fetch_env
from gcrl.rl.evaluate import wilson_interval
from gcrl.rl.learners import make_config
from gcrl.rl.run_folder import Curve, LearnerConfig, RunResult
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sac_her.learner import TrainingState

REACH, PUSH = "FetchReach-v4", "FetchPush-v4"
#: The tasks whose goal sets §1.1 measures.
GOAL_TASKS: tuple[str, ...] = (REACH, PUSH, "FetchPickAndPlace-v4", "FetchSlide-v4")
#: The deterministic success rate every Reach run must reach: the claim ``deliverables.yaml`` declares for the
#: standard profile.
THRESHOLD = declared_range("ch04", "her_results.json", "/reach/min_final_success", "standard")[0]
ABLATION_K: tuple[int, ...] = (0, 1, 4, 8)
ABLATION_STRATEGIES: tuple[str, ...] = her.STRATEGIES
#: The recipe's relabelling (``hyperparams/sac_her.yml``), the reference the ablation varies around.
RECIPE_K: int = SacHerConfig.from_recipe(REACH, total_steps=1).n_sampled_goal
RECIPE_STRATEGY: str = SacHerConfig.from_recipe(REACH, total_steps=1).goal_selection_strategy
#: The chapter's claim on Push: pooled success with hindsight at least this, as ``deliverables.yaml`` declares it
#: for the standard profile.
PUSH_TARGET = declared_range("ch04", "her_results.json", "/push/pooled/HER/success_rate", "standard")[0]
#: Full-profile targets: success within the long runs' budgets (the zoo's TQC+HER anchors).
LONG_TARGETS = {"FetchPush-v4": 0.9, "FetchPickAndPlace-v4": 0.9, "FetchSlide-v4": 0.6}


@dataclass(frozen=True)
class Variant:
    """One configuration of the chapter, trained on every seed."""

    env_id: str
    algo: str  # a name of gcrl.rl.learners: "sac+her" (the book's) or "tqc" (sb3-contrib, with SB3's HER buffer)
    n_sampled_goal: int
    strategy: str
    env_steps: int

    @property
    def name(self) -> str:
        return f"{self.env_id}-{self.algo}-k{self.n_sampled_goal}-{self.strategy}-{self.env_steps}"

    @property
    def label(self) -> str:
        if self.n_sampled_goal == 0:
            return "no HER (k=0)"
        return f"k={self.n_sampled_goal}, {self.strategy}"


def reach_variant(budget: HerBudget) -> Variant:
    return Variant(REACH, "sac+her", RECIPE_K, RECIPE_STRATEGY, budget.reach_env_steps)


def push_variants(budget: HerBudget) -> dict[str, Variant]:
    """Push with and without hindsight: the same seeds, recipe and budget, k = 4 against k = 0."""
    return {"HER": Variant(PUSH, "sac+her", RECIPE_K, RECIPE_STRATEGY, budget.push_env_steps),
            "no HER": Variant(PUSH, "sac+her", 0, RECIPE_STRATEGY, budget.push_env_steps)}


def ablation_variants(budget: HerBudget) -> list[Variant]:
    """k in {0, 1, 4, 8} with "future", and every strategy with the recipe's k = 4."""
    env, steps = budget.ablation_env_id, budget.ablation_env_steps
    ks = [Variant(env, "sac+her", k, RECIPE_STRATEGY, steps) for k in ABLATION_K]
    strategies = [Variant(env, "sac+her", RECIPE_K, s, steps) for s in ABLATION_STRATEGIES if s != RECIPE_STRATEGY]
    return ks + strategies


def long_variants(budget: HerBudget) -> list[Variant]:
    return [Variant(env_id, algo, RECIPE_K, RECIPE_STRATEGY, steps)
            for env_id, steps in budget.long_env_steps.items() for algo in ("sac+her", "tqc")]


def config(variant: Variant, seed: int, budget: HerBudget) -> LearnerConfig:
    """The run's config: the book's SAC+HER (:mod:`gcrl.rl.sac_her`) or sb3-contrib's TQC with SB3's HER buffer."""
    push = variant.env_id != REACH
    eval_every = budget.push_eval_every if push else budget.eval_every
    settings: dict[str, Any] = dict(seed=seed, total_steps=variant.env_steps, eval_every=eval_every,
                                    eval_episodes=budget.push_eval_episodes if push else budget.eval_episodes,
                                    checkpoint_every=eval_every)
    if budget.learning_starts is not None:
        settings["learning_starts"] = budget.learning_starts
    if variant.algo == "sac+her":
        settings.update(n_sampled_goal=variant.n_sampled_goal, goal_selection_strategy=variant.strategy)
        if push:
            settings.update(dict(budget.push_overrides))
    return make_config(variant.algo, variant.env_id, **settings)


Plan = dict[tuple[Variant, int], LearnerConfig]
Trained = dict[tuple[Variant, int], RunResult]


def plan(budget: HerBudget, seeds: range) -> Plan:
    """Every (variant, seed) of the chapter with its config; a run two experiments share appears once."""
    variants = [reach_variant(budget), *ablation_variants(budget)]
    runs = {(v, s): config(v, s, budget) for v in dict.fromkeys(variants) for s in seeds}
    push_seeds = range(seeds[0], seeds[0] + budget.push_seeds)
    runs.update({(v, s): config(v, s, budget) for v in push_variants(budget).values() for s in push_seeds})
    long_seeds = range(seeds[0], seeds[0] + budget.long_seeds)
    runs.update({(v, s): config(v, s, budget) for v in long_variants(budget) for s in long_seeds})
    return runs


def train_runs(runs: Plan, runs_folder: Path, run: RunRecord) -> Trained:
    """Train the plan as one grid; each run resumes from its checkpoint, a finished run is read back."""
    return train_plan(runs, runs_folder, run, lambda key: f"{key[0].name}-seed{key[1]}")


def curves(results: Trained, variant: Variant) -> list[Curve]:
    """The curves of ``variant``'s runs in the order of their seeds (so two variants' lists pair seed with seed)."""
    return [result.curve for (v, _), result in sorted(results.items(), key=lambda item: item[0][1]) if v == variant]


def rows(results: Trained, variant: Variant) -> list[dict[str, Any]]:
    """Summary rows (one per seed) of ``variant``, in the shape of :func:`gcrl.analysis.experiments.summary_rows`."""
    grid = {(v.env_id, s): r for (v, s), r in results.items() if v == variant}
    return [{**row, "variant": variant.label} for row in experiments.summary_rows(grid)]


def policy_index(results: Trained, variant: Variant, chapter_folder: Path) -> list[dict[str, Any]]:
    """Where each seed's trained policy of ``variant`` lives, relative to the chapter's folder (Chapter 5 loads them)."""
    return [{"run": f"{v.name}-seed{s}", "env_id": v.env_id, "seed": s,
             "run_dir": Path(r.run_dir).relative_to(chapter_folder).as_posix()}
            for (v, s), r in results.items() if v == variant]


def ablation_rows(results: Trained, budget: HerBudget) -> list[dict[str, Any]]:
    """Per variant: pooled final success, steps to THRESHOLD, and the mean success over the curve."""
    table = []
    for variant in ablation_variants(budget):
        runs = curves(results, variant)
        pooled = experiments.pooled_curve(runs)
        final = pooled[-1]
        table.append({
            "variant": variant.label, "n_sampled_goal": variant.n_sampled_goal, "strategy": variant.strategy,
            "relabelled_fraction": her.her_ratio(variant.n_sampled_goal),
            "seeds": final["runs"], "episodes": final["episodes"], "successes": final["successes"],
            "success_rate": final["success_rate"], "ci95_low": final["ci95_low"], "ci95_high": final["ci95_high"],
            "steps_to_threshold": experiments.steps_to_threshold(pooled, THRESHOLD),
            "mean_success_over_curve": float(np.mean([p["success_rate"] for p in pooled])),
        })
    return table


# --- the problem, in numbers ---------------------------------------------------------------


def ball_fraction(dimension: int, radius: float, side: float) -> float:
    """The fraction of a cube of side ``side`` covered by a ball of ``radius`` in ``dimension`` dimensions."""
    ball = math.pi ** (dimension / 2) / math.gamma(dimension / 2 + 1) * radius**dimension
    return ball / side**dimension


def success_threshold() -> float:
    """The success threshold epsilon, read off the environment (the same on every Fetch task, Chapter 1)."""
    env = make_fetch_env(REACH)
    try:
        return float(env.unwrapped.distance_threshold)
    finally:
        env.close()


def goal_chance(env_id: str, pairs: int, seed: int, threshold: float) -> dict[str, Any]:
    """How often undirected behaviour would land within ``threshold`` of a goal, from the task's own goal sampler.

    Goals are drawn by resetting the environment (seeds ``seed, seed + 1, ...``).
    Their support is read off the draws: the axes along which goals vary and
    their extent, separately for goals on the table and in the air (PickAndPlace
    draws both). ``volume_ratio`` is the ball-to-support ratio of the chapter's
    formula for each component, weighted by the chance that two goals fall in
    the same one; ``monte_carlo`` is the fraction of independent pairs of goals
    within ``threshold`` of each other, which also counts the edges of the support
    (where part of a ball falls outside) and pairs across components.
    """
    env = make_fetch_env(env_id)
    try:
        goals = np.array([env.reset(seed=seed + i)[0]["desired_goal"] for i in range(2 * pairs)])
    finally:
        env.close()
    on_table = np.isclose(goals[:, 2], goals[:, 2].min())  # a share of goals at one height: the table's
    if on_table.mean() < 0.05:
        on_table[:] = False
    components = []
    for name, members in (("table", goals[on_table]), ("air", goals[~on_table])):
        if len(members) < 2:
            continue
        extent = members.max(axis=0) - members.min(axis=0)
        varying = extent > 1e-6
        dimension = int(varying.sum())
        components.append({"component": name if on_table.any() and (~on_table).any() else "all",
                           "weight": len(members) / len(goals), "dimension": dimension,
                           "extent_m": [round(float(x), 3) for x in extent[varying]],
                           "volume_ratio": ball_fraction(dimension, threshold, 1.0) / float(np.prod(extent[varying]))})
    hits = int(np.sum(np.linalg.norm(goals[:pairs] - goals[pairs:], axis=1) < threshold))
    low, high = wilson_interval(hits, pairs)
    return {"env_id": env_id, "components": components,
            "volume_ratio": float(sum(c["weight"] ** 2 * c["volume_ratio"] for c in components)),
            "monte_carlo": hits / pairs, "monte_carlo_ci95": [low, high], "pairs": pairs}


def solved_at_reset(env_id: str, seeds: list[int]) -> str:
    """One character per episode seed, ``1`` where the episode starts solved: the achieved goal already within the
    task's threshold of the desired goal at reset (in the order of ``seeds``, as an evaluation's ``outcomes``)."""
    env = make_fetch_env(env_id)
    try:
        starts = [env.reset(seed=seed)[0] for seed in seeds]
        threshold = float(env.unwrapped.distance_threshold)
    finally:
        env.close()
    return "".join("1" if np.linalg.norm(o["achieved_goal"] - o["desired_goal"]) < threshold else "0" for o in starts)


def relabelling_yield(env_id: str, episodes: int, seed: int, n_sampled_goal: int = RECIPE_K) -> dict[str, Any]:
    """Random-action episodes of ``env_id``: the fraction of rewarded transitions before and after relabelling."""
    env = make_fetch_env(env_id)
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    real, relabelled = [], []
    try:
        for episode in range(episodes):
            observation, _ = env.reset(seed=seed + episode)
            next_achieved, rewards = [], []
            done = False
            while not done:
                observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                next_achieved.append(observation["achieved_goal"])
                rewards.append(reward)
                done = terminated or truncated
            real.extend(rewards)
            hindsight = her.relabel_episode(np.array(next_achieved), RECIPE_STRATEGY, n_sampled_goal, rng,
                                            env.unwrapped.compute_reward)
            relabelled.extend(hindsight.rewards.tolist())
    finally:
        env.close()
    real_hits, hindsight_hits = int(np.sum(np.array(real) == 0)), int(np.sum(np.array(relabelled) == 0))
    return {"env_id": env_id, "episodes": episodes, "transitions": len(real),
            "rewarded": real_hits, "rewarded_fraction": real_hits / len(real),
            "rewarded_ci95": list(wilson_interval(real_hits, len(real))),
            "relabelled_transitions": len(relabelled), "relabelled_rewarded": hindsight_hits,
            "relabelled_rewarded_fraction": hindsight_hits / len(relabelled),
            "relabelled_ci95": list(wilson_interval(hindsight_hits, len(relabelled)))}


def relabelling_schematic(env_id: str, seed: int, t: int, n_sampled_goal: int = RECIPE_K) -> dict[str, Any]:
    """One random-action episode and the ``future`` substitutes of its transition ``t``, for the figure of §1.4:
    the achieved goals (the start's, then one after each transition), the episode's desired goal, and the
    indices ``j`` and rewards the relabelling gives ``n_sampled_goal`` copies of transition ``t``."""
    env = make_fetch_env(env_id)
    env.action_space.seed(seed)
    try:
        observation, _ = env.reset(seed=seed)
        achieved = [observation["achieved_goal"]]
        done = False
        while not done:
            observation, _, terminated, truncated, _ = env.step(env.action_space.sample())
            achieved.append(observation["achieved_goal"])
            done = terminated or truncated
        goal = observation["desired_goal"]
        next_achieved = np.array(achieved[1:])
        j = her.goal_indices(np.full(n_sampled_goal, t), len(next_achieved), RECIPE_STRATEGY,
                             np.random.default_rng(seed))
        rewards = env.unwrapped.compute_reward(next_achieved[np.full(n_sampled_goal, t)], next_achieved[j], None)
    finally:
        env.close()
    return {"achieved": np.array(achieved), "goal": goal, "t": t, "j": j, "rewards": rewards,
            "real_reward": float(env.unwrapped.compute_reward(next_achieved[t], goal, None))}


def relabelling_probe(config: SacHerConfig, n_sampled_goal: int, strategy: str, cycles: int = 3,
                      batch: int = 512) -> dict[str, Any]:
    """A minibatch as the buffer draws it (``n_sampled_goal`` and ``strategy``, generator seeded with 0) from the
    episodes a fresh run of ``config`` stores in ``cycles`` collection cycles, without gradient steps; with the
    buffer's episodes and the rewards ``compute_reward`` gives the drawn transitions, for §4 to check the draw."""
    state = TrainingState(config)
    try:
        for _ in range(cycles):
            state.collect()
        obs, _, next_obs, rewards = state.buffer.sample(batch, n_sampled_goal, strategy, np.random.default_rng(0),
                                                        state.compute_reward)
        stored = state.buffer.episodes
        return {"obs": obs, "next_obs": next_obs, "rewards": rewards,
                "recomputed": state.compute_reward(next_obs["achieved_goal"], obs["desired_goal"], None),
                "relabelled": her.relabelled_count(batch, n_sampled_goal), "episodes": stored, "steps": state.steps,
                "observation": state.buffer.observation[:stored], "achieved_goal": state.buffer.achieved_goal[:stored],
                "desired_goal": state.buffer.desired_goal[:stored]}
    finally:
        state.close()


def chapter3_push(upstream: Upstream) -> dict[str, Any]:
    """Chapter 3's SAC without hindsight on Push (SB3's implementation): pooled final success and its budget."""
    sac = upstream.read("ch03", "sac_results.json")
    return {**sac["pooled"][PUSH], "env_steps": sac["budget"]["push_env_steps"]}


def ablation_reading(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The ablation's sentences, computed from its rows (mean success over the curve, ``area``, per variant)."""
    area = {(r["n_sampled_goal"], r["strategy"]): r["mean_success_over_curve"] for r in rows}
    k0, k1, k4, k8 = (area[(k, RECIPE_STRATEGY)] for k in ABLATION_K)
    gain = k4 - k0
    reading = {"k0": f"its mean success over the curve is {k0:.2f}, against {k4:.2f} with k = {RECIPE_K}"}
    if gain > 0:
        reading["k1"] = (f"A single substitute goal (k = 1, {k1:.2f}) recovers {(k1 - k0) / gain:.0%} of the gain "
                         f"that k = {RECIPE_K} makes over k = 0.")
    else:
        reading["k1"] = f"Here k = {RECIPE_K} gains nothing over k = 0, and k = 1 scores {k1:.2f}."
    relation = (f"{abs(k8 - k4):.2f} {'above' if k8 > k4 else 'below'} that of" if k8 != k4 else "equal to that of")
    reading["k8"] = (f"With k = 8, which keeps only one ninth of each minibatch on the task's own goals, the mean "
                     f"success over the curve is {k8:.2f}, {relation} k = {RECIPE_K}.")
    others = [(s, area[(RECIPE_K, s)]) for s in ABLATION_STRATEGIES]
    reading["strategies"] = ", ".join(f"`{s}` {a:.2f}" for s, a in others)
    return reading
