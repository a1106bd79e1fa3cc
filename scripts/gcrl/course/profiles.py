"""The single table of compute budgets, per chapter and profile.

One variable, ``GCRL_PROFILE`` (or ``--profile``), picks the profile; it is
resolved and checked by one function, :func:`resolve_profile`, at whichever entry
point a reader starts from (the CLI, or a chapter opened in JupyterLab), and the
runner hands the resolved name to each chapter as a papermill parameter.
Notebooks never hold budget literals of their own, and recipes never appear
here: a budget overrides a recipe's hyperparameter only where a run is too
short for the recipe's value (a warm-up longer than the run), and says so.

- ``smoke``: proves the mechanics in at most two minutes per chapter on two CPU
  cores (CI, nbval, a quick look). Nothing is expected to learn.
- ``standard``: the default; the whole book in at most two hours on two CPU cores, Push solved (a design
  target: ``gcrl timings`` and Chapter 0 report the measured time of the last run).
- ``full``: paper-scale runs for a GPU machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal, overload

from gcrl.core.errors import CourseError
from gcrl.core.seeds import reporting_seeds

PROFILE_ENV = "GCRL_PROFILE"
PROFILES: tuple[str, ...] = ("smoke", "standard", "full")
DEFAULT_PROFILE = "standard"


def resolve_profile(profile: str | None = None) -> str:
    """``profile``, else ``$GCRL_PROFILE``, else the default; a clear error naming the choices if unknown."""
    chosen = (profile or "").strip() or os.environ.get(PROFILE_ENV, "").strip() or DEFAULT_PROFILE
    if chosen not in PROFILES:
        raise CourseError(f"unknown profile {chosen!r}; choose one of {', '.join(PROFILES)} "
                          f"(set {PROFILE_ENV}=... or pass --profile)")
    return chosen


@dataclass(frozen=True)
class ProofOfLifeBudget:
    """Chapter 0: a short SAC run on FetchReach-v4, a frame, a reload check, a recorded rollout."""

    sac_env_steps: int
    sac_learning_starts: int  # the run is shorter than the recipe's warm-up
    frame_size: int
    reload_observations: int
    video_episodes: int
    video_size: int
    seeds: int = 1


@dataclass(frozen=True)
class AnatomyBudget:
    """Chapter 1: rollouts per environment and baseline policy, schema validations, frame size."""

    episodes_per_policy: int  # 50 transitions each; the random-policy ones are also checked for reward consistency
    schema_observations: int  # observations per environment validated against its JSON Schema
    frame_size: int
    seeds: int = 1


@dataclass(frozen=True)
class TrainingBudget:
    """A chapter's training runs: env steps per run, seeds, evaluation grid, video."""

    env_steps: int
    seeds: int
    eval_every: int
    eval_episodes: int
    video_episodes: int


@dataclass(frozen=True)
class SacBudget:
    """Chapter 3: SAC without hindsight, on Chapter 2's seeds and evaluation episodes.

    Push gets fewer steps than Reach: its recipe's network costs about five
    times as much per gradient step, and without hindsight it is not expected
    to learn within any of these budgets (Chapter 4 measures the difference).
    """

    reach_env_steps: int
    push_env_steps: int
    learning_starts: int | None  # None: the recipe's; smaller only where a run is shorter than that
    seeds: int
    eval_every: int
    eval_episodes: int
    video_episodes: int


#: Push's env steps in the standard profile: chosen on selection seed 0, whose curve leaves the floor near 400,000
#: and reaches 90% near 620,000 (``book/reference/push_search.json``), with a margin for the last-bit differences
#: between CPUs, which over 10^5 updates act like another seed. What reporting seeds reach at this budget is
#: measured in ``book/reference/push_recipe_reporting.json`` and read by Chapter 4.
PUSH_STANDARD_STEPS = 880_000
#: PickAndPlace's env steps for learning from demonstrations in the standard profile (Chapter 7), chosen on
#: selection seed 0 with 100 demonstrations; what reporting seeds reach is Chapter 7's to measure.
LFD_STANDARD_STEPS = 200_000


@dataclass(frozen=True)
class HerBudget:
    """Chapter 4: the book's SAC+HER on Reach and Push, hindsight ablations, and (full) the long runs.

    Push trains its recipe (``hyperparams/sac_her.yml``) with and without
    hindsight on ``push_seeds`` seeds, evaluated on ``push_eval_episodes``
    episodes; ``push_overrides`` changes the recipe only where a profile cannot
    afford it (smoke, which checks that the code runs, not that Push is
    learned). ``long_env_steps`` names the full-profile runs of SAC+HER and
    TQC+HER on Push, PickAndPlace and Slide.
    """

    reach_env_steps: int
    push_env_steps: int
    push_seeds: int
    push_eval_episodes: int
    push_overrides: tuple[tuple[str, Any], ...]
    ablation_env_id: str
    ablation_env_steps: int
    learning_starts: int | None  # None: the recipe's; smaller only where a run is shorter than that
    seeds: int
    eval_every: int
    push_eval_every: int
    eval_episodes: int
    video_episodes: int
    long_env_steps: dict[str, int]
    long_seeds: int


@dataclass(frozen=True)
class RobustnessBudget:
    """Chapter 5: degradation curves of Chapter 4's policies, and domain-randomised training.

    ``severities`` points per curve (always the nominal 0 and the most severe),
    ``eval_episodes`` fixed episodes per training seed at each point. The
    domain-randomised runs repeat Chapter 4's runs of the same profile (same
    seeds, steps and recipe) with randomisation on, for ``dr_tasks`` only.
    """

    severities: int
    eval_episodes: int
    seeds: int  # Chapter 4's, whose policies are measured and whose runs the randomised ones repeat
    dr_tasks: tuple[str, ...]
    video_episodes: int
    bias_states: int  # simulator states at which the relabelling bias of randomisation is measured


@dataclass(frozen=True)
class StabilityBudget:
    """Chapter 6: its sweep (seeds, tasks, budgets and configurations of every run), bootstrap replications,
    and the determinism check's run.

    ``sweep`` is a sweep in the format of :mod:`gcrl.analysis.sweep`, kept here as
    data so that one table holds every budget; ``gcrl sweep --chapter ch06``
    runs it, and ``--print`` writes it out as a sweep file to edit.
    """

    sweep: dict[str, Any]
    bootstrap_reps: int
    determinism_env_steps: int
    determinism_learning_starts: int | None  # None: the recipe's

    @property
    def seeds(self) -> int:
        return len(self.sweep["seeds"]) if isinstance(self.sweep["seeds"], list) else int(self.sweep["seeds"])


@dataclass(frozen=True)
class ExistenceBudget:
    """Chapter 7: the scripted experts' episodes, behaviour cloning and DAgger.

    ``expert_episodes`` held-out episodes per task measure each expert;
    ``demonstrations`` are the numbers of expert episodes cloned, on every task of
    ``clone_tasks``, each fit evaluated on ``eval_episodes`` held-out episodes;
    ``widths`` is the grid of network widths (three layers each) cloned from the
    largest number of demonstrations on ``width_tasks``; DAgger runs
    ``dagger_rounds`` rounds of ``dagger_largest // dagger_rounds`` episodes on
    ``dagger_task`` and is compared with cloning at each number of demonstrations
    it can match. ``epochs`` passes over the data fit each policy. Learning from
    demonstrations trains the book's SAC+HER on ``lfd_task`` for ``lfd_env_steps``
    with ``lfd_demos`` expert episodes and without them, on ``lfd_seeds`` seeds,
    evaluated every ``lfd_eval_every`` steps on ``lfd_eval_episodes`` held-out
    episodes; ``lfd_overrides`` changes the task's recipe only where a profile
    cannot afford it.
    """

    expert_episodes: int
    demonstrations: tuple[int, ...]
    clone_tasks: tuple[str, ...]
    widths: tuple[int, ...]
    width_tasks: tuple[str, ...]
    dagger_task: str
    dagger_rounds: int
    epochs: int
    eval_episodes: int
    video_episodes: int
    lfd_task: str
    lfd_demos: int
    lfd_env_steps: int
    lfd_seeds: int
    lfd_eval_every: int
    lfd_eval_episodes: int
    lfd_overrides: tuple[tuple[str, Any], ...] = ()
    seeds: int = 1


Budget = (ProofOfLifeBudget | AnatomyBudget | TrainingBudget | SacBudget | HerBudget | RobustnessBudget
          | StabilityBudget | ExistenceBudget)


#: The tasks with an object, which Chapter 7's experts and clones are measured on.
_OBJECT_TASKS = ("FetchPush-v4", "FetchPickAndPlace-v4", "FetchSlide-v4")


def _stability_sweep(name: str, seeds: list[int], reach: dict[str, Any], ppo: dict[str, Any],
                     sensitivity: dict[str, Any], push: dict[str, Any] | None = None) -> dict[str, Any]:
    """Chapter 6's sweep: the comparison (SAC+HER, the same code with k = 0, PPO) on Reach, and on Push
    when ``push`` is given, and the sensitivity of SAC+HER one parameter at a time."""
    groups: list[dict[str, Any]] = []
    for env_id, sac, ppo_config in (("FetchReach-v4", reach, ppo), *((("FetchPush-v4", push, push),) if push else ())):
        groups += [
            {"name": "comparison", "label": "SAC+HER", "algo": "sac+her", "env_id": env_id, "config": sac},
            {"name": "comparison", "label": "SAC, no HER", "algo": "sac+her", "env_id": env_id,
             "config": {**sac, "n_sampled_goal": 0}},
            {"name": "comparison", "label": "PPO", "algo": "ppo", "env_id": env_id, "config": ppo_config},
        ]
    groups.append({"name": "sensitivity", "label": "SAC+HER", "algo": "sac+her", **sensitivity})
    return {"name": name, "seeds": seeds, "groups": groups}


BUDGETS: dict[str, dict[str, Budget]] = {
    "ch00": {
        "smoke": ProofOfLifeBudget(sac_env_steps=300, sac_learning_starts=100, frame_size=480, reload_observations=16, video_episodes=1, video_size=240),
        "standard": ProofOfLifeBudget(sac_env_steps=2_000, sac_learning_starts=500, frame_size=480, reload_observations=64, video_episodes=2, video_size=320),
        "full": ProofOfLifeBudget(sac_env_steps=10_000, sac_learning_starts=1_000, frame_size=720, reload_observations=256, video_episodes=4, video_size=480),
    },
    "ch01": {
        "smoke": AnatomyBudget(episodes_per_policy=10, schema_observations=100, frame_size=320),
        "standard": AnatomyBudget(episodes_per_policy=200, schema_observations=1_000, frame_size=480),
        "full": AnatomyBudget(episodes_per_policy=1_000, schema_observations=5_000, frame_size=640),
    },
    "ch02": {
        "smoke": TrainingBudget(env_steps=2_048, seeds=1, eval_every=1_024, eval_episodes=5, video_episodes=1),
        "standard": TrainingBudget(env_steps=16_384, seeds=3, eval_every=4_096, eval_episodes=30, video_episodes=2),
        "full": TrainingBudget(env_steps=200_704, seeds=5, eval_every=12_544, eval_episodes=100, video_episodes=4),
    },
    "ch03": {
        "smoke": SacBudget(reach_env_steps=1_024, push_env_steps=512, learning_starts=256, seeds=1,
                           eval_every=512, eval_episodes=5, video_episodes=1),
        "standard": SacBudget(reach_env_steps=8_192, push_env_steps=4_096, learning_starts=None, seeds=3,
                              eval_every=1_024, eval_episodes=30, video_episodes=2),
        "full": SacBudget(reach_env_steps=50_176, push_env_steps=200_704, learning_starts=None, seeds=5,
                          eval_every=3_136, eval_episodes=100, video_episodes=4),
    },
    "ch04": {
        "smoke": HerBudget(reach_env_steps=600, push_env_steps=300, push_seeds=1, push_eval_episodes=5,
                           push_overrides=(("net_arch", (16, 16)), ("n_envs", 1), ("episodes_per_cycle", 1),
                                           ("batch_size", 64), ("updates_per_cycle", 10)),
                           ablation_env_id="FetchReach-v4", ablation_env_steps=600, learning_starts=100, seeds=1,
                           eval_every=200, push_eval_every=150, eval_episodes=5, video_episodes=1,
                           long_env_steps={}, long_seeds=0),
        "standard": HerBudget(reach_env_steps=5_000, push_env_steps=PUSH_STANDARD_STEPS, push_seeds=1,
                              push_eval_episodes=100, push_overrides=(), ablation_env_id="FetchReach-v4",
                              ablation_env_steps=5_000, learning_starts=None, seeds=3, eval_every=1_000,
                              push_eval_every=40_000, eval_episodes=50, video_episodes=2, long_env_steps={},
                              long_seeds=0),
        "full": HerBudget(reach_env_steps=20_000, push_env_steps=1_600_000, push_seeds=5, push_eval_episodes=100,
                          push_overrides=(), ablation_env_id="FetchPush-v4", ablation_env_steps=1_200_000,
                          learning_starts=None, seeds=5, eval_every=5_000, push_eval_every=40_000, eval_episodes=100,
                          video_episodes=4, long_env_steps={"FetchPush-v4": 1_600_000,
                                                            "FetchPickAndPlace-v4": 3_200_000,
                                                            "FetchSlide-v4": 3_200_000}, long_seeds=3),
    },
    "ch05": {
        "smoke": RobustnessBudget(severities=2, eval_episodes=3, seeds=1, dr_tasks=("FetchReach-v4",), video_episodes=1,
                                  bias_states=5),
        "standard": RobustnessBudget(severities=5, eval_episodes=20, seeds=3, dr_tasks=("FetchReach-v4",), video_episodes=2,
                                     bias_states=100),
        "full": RobustnessBudget(severities=5, eval_episodes=100, seeds=5, dr_tasks=("FetchReach-v4", "FetchPush-v4"),
                                 video_episodes=4, bias_states=500),
    },
    "ch06": {
        "smoke": StabilityBudget(
            sweep=_stability_sweep(
                "ch06-smoke", seeds=reporting_seeds(2),
                reach={"total_steps": 400, "learning_starts": 100, "eval_every": 200, "eval_episodes": 5,
                       "checkpoint_every": 200},
                ppo={"total_steps": 400, "eval_every": 200, "eval_episodes": 5, "checkpoint_every": 1024},
                sensitivity={"env_id": "FetchReach-v4",
                             "config": {"total_steps": 400, "learning_starts": 100, "eval_every": 200,
                                        "eval_episodes": 5, "checkpoint_every": 200},
                             "vary": {"learning_rate": [0.003], "batch_size": [64], "n_sampled_goal": [8]}}),
            bootstrap_reps=500, determinism_env_steps=300, determinism_learning_starts=150),
        # standard: the two SAC variants at Chapter 4's Reach budget and evaluation; PPO with about ten
        # times the env steps (fifty rollouts of 1,024), since at 5,000 it makes five updates and the
        # comparison would be decided before the run
        "standard": StabilityBudget(
            sweep=_stability_sweep(
                "ch06-standard", seeds=reporting_seeds(5),
                reach={"total_steps": 5000, "eval_every": 1000, "eval_episodes": 50},
                ppo={"total_steps": 51200, "eval_every": 10240, "eval_episodes": 50, "checkpoint_every": 10240},
                sensitivity={"env_id": "FetchReach-v4",
                             "config": {"total_steps": 5000, "eval_every": 1000, "eval_episodes": 50},
                             "vary": {"learning_rate": [0.0003, 0.003], "batch_size": [64, 1024],
                                      "n_sampled_goal": [1, 8]}}),
            bootstrap_reps=10_000, determinism_env_steps=2_000, determinism_learning_starts=None),
        # full: sized for a GPU machine or a Ray cluster; Push is compared too, and the sensitivity study
        # moves to Push at Chapter 4's ablation budget
        "full": StabilityBudget(
            sweep=_stability_sweep(
                "ch06-full", seeds=reporting_seeds(10),
                reach={"total_steps": 20000, "eval_every": 5000, "eval_episodes": 100},
                ppo={"total_steps": 204800, "eval_every": 20480, "eval_episodes": 100, "checkpoint_every": 20480},
                push={"total_steps": 1000000, "eval_every": 20000, "eval_episodes": 100, "checkpoint_every": 20000},
                sensitivity={"env_id": "FetchPush-v4",
                             "config": {"total_steps": 300000, "eval_every": 20000, "eval_episodes": 100,
                                        "checkpoint_every": 20000},
                             "vary": {"learning_rate": [0.0003, 0.003], "batch_size": [256, 1024],
                                      "n_sampled_goal": [1, 8]}}),
            bootstrap_reps=50_000, determinism_env_steps=10_000, determinism_learning_starts=None),
    },
    "ch07": {
        "smoke": ExistenceBudget(expert_episodes=10, demonstrations=(2, 4), clone_tasks=_OBJECT_TASKS,
                                 widths=(16, 64), width_tasks=("FetchPickAndPlace-v4",), dagger_task="FetchPush-v4",
                                 dagger_rounds=2, epochs=2, eval_episodes=5, video_episodes=1,
                                 lfd_task="FetchPickAndPlace-v4", lfd_demos=4, lfd_env_steps=300, lfd_seeds=1,
                                 lfd_eval_every=100, lfd_eval_episodes=5,
                                 lfd_overrides=(("net_arch", (16, 16)), ("n_envs", 1), ("episodes_per_cycle", 1),
                                                ("updates_per_cycle", 10), ("batch_size", 32), ("demo_batch_size", 8),
                                                ("learning_starts", 100), ("collector", "inline"))),
        "standard": ExistenceBudget(expert_episodes=500, demonstrations=(10, 100, 1000), clone_tasks=_OBJECT_TASKS,
                                    widths=(16, 32, 64, 128, 256), width_tasks=("FetchPush-v4", "FetchPickAndPlace-v4"),
                                    dagger_task="FetchPush-v4", dagger_rounds=5, epochs=40, eval_episodes=100,
                                    video_episodes=2, lfd_task="FetchPickAndPlace-v4", lfd_demos=100,
                                    lfd_env_steps=LFD_STANDARD_STEPS, lfd_seeds=1, lfd_eval_every=40_000,
                                    lfd_eval_episodes=100),
        "full": ExistenceBudget(expert_episodes=2000, demonstrations=(10, 100, 1000, 4000), clone_tasks=_OBJECT_TASKS,
                                widths=(16, 32, 64, 128, 256), width_tasks=_OBJECT_TASKS, dagger_task="FetchPush-v4",
                                dagger_rounds=10, epochs=40, eval_episodes=500, video_episodes=4,
                                lfd_task="FetchPickAndPlace-v4", lfd_demos=100, lfd_env_steps=1_000_000, lfd_seeds=3,
                                lfd_eval_every=40_000, lfd_eval_episodes=100),
    },
}


@overload
def budget(chapter: Literal["ch00"], profile: str) -> ProofOfLifeBudget: ...
@overload
def budget(chapter: Literal["ch01"], profile: str) -> AnatomyBudget: ...
@overload
def budget(chapter: Literal["ch02"], profile: str) -> TrainingBudget: ...
@overload
def budget(chapter: Literal["ch03"], profile: str) -> SacBudget: ...
@overload
def budget(chapter: Literal["ch04"], profile: str) -> HerBudget: ...
@overload
def budget(chapter: Literal["ch05"], profile: str) -> RobustnessBudget: ...
@overload
def budget(chapter: Literal["ch06"], profile: str) -> StabilityBudget: ...
@overload
def budget(chapter: Literal["ch07"], profile: str) -> ExistenceBudget: ...
@overload
def budget(chapter: str, profile: str) -> Budget: ...


def budget(chapter: str, profile: str) -> Budget:
    """The budget record of ``chapter`` under ``profile`` (a name :func:`resolve_profile` accepted)."""
    try:
        return BUDGETS[chapter][profile]
    except KeyError:
        raise CourseError(f"no budget for chapter {chapter!r} under profile {profile!r}; "
                          "add it to gcrl.course.profiles.BUDGETS") from None
