"""The configuration of the book's SAC+HER: every setting that decides a run, checked where it is made.

A recipe (``hyperparams/sac_her.yml``) gives the settings per task; :meth:`SacHerConfig.from_recipe`
applies overrides to it. Each field is read where its comment says: the losses in
:mod:`gcrl.rl.sac_her.algorithm`, the schedule and the buffers in :mod:`gcrl.rl.sac_her.learner`,
collection in :mod:`gcrl.rl.sac_her.collector`, demonstrations in :mod:`gcrl.rl.sac_her.demonstrations`.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.rl import her, perturb
from gcrl.rl.envs import FETCH_ENV_IDS, episode_length
from gcrl.rl.evaluate import EVAL_SEED_BASE
from gcrl.rl.experts import EXPERTS
from gcrl.rl.recipes import BOOK_ALGORITHM, load_recipe
from gcrl.rl.run_folder import Policy, RunResult

DEVICES = ("auto", "cpu", "cuda")
COLLECTORS = ("process", "inline")
#: how the networks run (gcrl.rl.sac_her.learner.compile_networks): eagerly, compiled by ``torch.compile``, or
#: compiled and replayed as CUDA graphs (``reduce-overhead``: launching many small kernels limits a GPU at batch 512)
COMPILE_MODES = ("none", "default", "reduce-overhead")


def resolve_device(name: str) -> torch.device:
    """The torch device a run's networks live on: ``auto`` takes CUDA where torch finds it."""
    if name not in DEVICES:
        raise CourseError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = f"a CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        raise CourseError(f"device 'cuda' was requested, but torch {torch.__version__} ({build}) finds no CUDA "
                          "device; use device 'cpu' or 'auto'")
    return torch.device("cuda")


@dataclass(frozen=True)
class SacHerConfig:
    """Everything that decides a run of the book's SAC+HER. Build one with :meth:`from_recipe`."""

    env_id: str
    total_steps: int
    # hindsight relabelling (Ch. 4, §1): k relabelled goals per real one, drawn by ``goal_selection_strategy``
    n_sampled_goal: int
    goal_selection_strategy: str
    # SAC (Ch. 3)
    net_arch: tuple[int, ...]
    batch_size: int
    learning_rate: float
    gamma: float
    tau: float
    # the schedule: a cycle is n_envs x episodes_per_cycle episodes and updates_per_cycle gradient steps
    learning_starts: int
    n_envs: int = 1
    episodes_per_cycle: int = 1
    updates_per_cycle: int = 50
    # the temperature: "auto" learns it (target entropy -dim A), a number holds alpha there
    ent_coef: float | str = "auto"
    # exploration beyond the policy's noise: a uniform random action with this probability per step
    random_eps: float = 0.0
    # clip the critic's target to [-1/(1 - gamma), 0], the range of the sparse return (Ch. 4, §4)
    target_clip: bool = False
    # layer-normalise the critics' hidden layers (gcrl.rl.sac_her.algorithm.TwinCritic; mrl's critics)
    critic_layer_norm: bool = False
    # the original HER code's action penalty: this weight times the mean squared action joins the actor's loss
    action_l2: float = 0.0
    # of the relabelled rows of a minibatch, this fraction takes a goal actually commanded in a uniformly drawn
    # stored episode instead of a ``goal_selection_strategy`` goal (mrl's "future + actual" mix; Ch. 4, §1.4)
    actual_goal_fraction: float = 0.0
    # normalised observations are clipped to [-obs_clip, obs_clip]
    obs_clip: float = 10.0
    # where the work happens: the collector's place never changes a run's numbers; the device and the
    # learner's torch threads may change the last bits of a floating-point sum, so they are part of the run
    device: str = "auto"
    collector: str = "inline"
    # the networks compiled (one of COMPILE_MODES; reduce-overhead needs CUDA): compiled kernels may sum in
    # another order than eager ones, so like the device it is part of the run
    compile_mode: str = "none"
    # with collector "process": how many processes simulate the environments (where simulation is the bottleneck)
    collector_processes: int = 1
    torch_threads: int = 1
    seed: int = 0
    eval_every: int = 1_000
    eval_episodes: int = 50
    eval_seed: int = EVAL_SEED_BASE
    target_success: float | None = None
    checkpoint_every: int = 5_000
    # Domain randomisation of the training env (Chapter 5); evaluation stays nominal.
    observation_noise: float = 0.0
    physics_ranges: tuple[tuple[str, float, float], ...] = ()
    # learning from demonstrations (Ch. 7, Nair et al. 2018; gcrl.rl.sac_her.demonstrations): demo_episodes of
    # the task's scripted expert in a buffer of their own, demo_batch_size of their transitions beside every
    # minibatch, and the cloning loss on the actor weighted by bc_weight, where q_filter lets it act only on
    # the states whose demonstrated action the critic values above the actor's
    demo_episodes: int = 0
    demo_batch_size: int = 128
    bc_weight: float = 1000.0
    q_filter: bool = True

    algo = BOOK_ALGORITHM

    def __post_init__(self) -> None:
        if self.env_id not in FETCH_ENV_IDS:
            raise CourseError(f"unknown environment {self.env_id!r}; the course uses {', '.join(FETCH_ENV_IDS)}")
        her.check_relabelling(self.goal_selection_strategy, self.n_sampled_goal)
        for name in ("total_steps", "batch_size", "eval_every", "eval_episodes", "checkpoint_every", "n_envs",
                     "episodes_per_cycle", "updates_per_cycle", "torch_threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CourseError(f"{name} must be a positive integer, got {value!r}")
        if not self.net_arch or any(not isinstance(w, int) or w < 1 for w in self.net_arch):
            raise CourseError(f"net_arch must be a non-empty list of positive widths, got {self.net_arch!r}")
        for name, low, high in (("gamma", 0, 1), ("tau", 0, 1)):
            if not low < getattr(self, name) <= high:
                raise CourseError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise CourseError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.ent_coef != "auto" and not (isinstance(self.ent_coef, (int, float)) and self.ent_coef > 0):
            raise CourseError(f"ent_coef must be 'auto' or a number > 0, got {self.ent_coef!r}")
        if not (isinstance(self.random_eps, (int, float)) and 0 <= self.random_eps <= 1):
            raise CourseError(f"random_eps must be a number in [0, 1], got {self.random_eps!r}")
        if not (isinstance(self.obs_clip, (int, float)) and self.obs_clip > 0):
            raise CourseError(f"obs_clip must be a number > 0, got {self.obs_clip!r}")
        for name in ("target_clip", "critic_layer_norm"):
            if not isinstance(getattr(self, name), bool):
                raise CourseError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not (isinstance(self.action_l2, (int, float)) and not isinstance(self.action_l2, bool) and self.action_l2 >= 0):
            raise CourseError(f"action_l2 must be a number >= 0, got {self.action_l2!r}")
        if not (isinstance(self.actual_goal_fraction, (int, float)) and not isinstance(self.actual_goal_fraction, bool)
                and 0 <= self.actual_goal_fraction <= 1):
            raise CourseError(f"actual_goal_fraction must be a number in [0, 1], got {self.actual_goal_fraction!r}")
        if self.actual_goal_fraction and not self.n_sampled_goal:
            raise CourseError("actual_goal_fraction needs relabelling (n_sampled_goal > 0): it is a share of the "
                              "relabelled rows")
        if self.device not in DEVICES:
            raise CourseError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.compile_mode not in COMPILE_MODES:
            raise CourseError(f"unknown compile_mode {self.compile_mode!r}; choose one of {', '.join(COMPILE_MODES)}")
        if self.compile_mode == "reduce-overhead" and self.device == "cpu":
            raise CourseError("compile_mode 'reduce-overhead' replays the networks as CUDA graphs and needs device "
                              "'cuda' (or 'auto' on a machine with CUDA), not 'cpu'; use 'default' or 'none' on a CPU")
        if self.collector not in COLLECTORS:
            raise CourseError(f"unknown collector {self.collector!r}; choose one of {', '.join(COLLECTORS)}")
        if not (isinstance(self.collector_processes, int) and 1 <= self.collector_processes <= self.n_envs):
            raise CourseError(f"collector_processes must be an integer from 1 to n_envs ({self.n_envs}), "
                              f"got {self.collector_processes!r}")
        if self.collector_processes > 1 and self.collector != "process":
            raise CourseError(f"collector_processes {self.collector_processes} needs collector 'process', "
                              f"not {self.collector!r}")
        if self.target_success is not None and not 0 < self.target_success <= 1:
            raise CourseError(f"target_success must be in (0, 1], got {self.target_success!r}")
        if not (isinstance(self.observation_noise, (int, float)) and self.observation_noise >= 0):
            raise CourseError(f"observation_noise must be a number >= 0, got {self.observation_noise!r}")
        for entry in self.physics_ranges:
            if len(entry) != 3 or entry[0] not in perturb.PHYSICS_FIELDS or not -1 < entry[1] <= entry[2]:
                raise CourseError(f"physics_ranges: each entry is (field, low, high) with field in "
                                  f"{', '.join(perturb.PHYSICS_FIELDS)} and -1 < low <= high, got {entry!r}")
        if not (isinstance(self.demo_episodes, int) and self.demo_episodes >= 0):
            raise CourseError(f"demo_episodes must be an integer >= 0, got {self.demo_episodes!r}")
        if self.demo_episodes and self.env_id not in EXPERTS:
            raise CourseError(f"demo_episodes needs a scripted expert, and {self.env_id} has none; "
                              f"there is one for {', '.join(EXPERTS)}")
        if not (isinstance(self.demo_batch_size, int) and self.demo_batch_size >= 1):
            raise CourseError(f"demo_batch_size must be a positive integer, got {self.demo_batch_size!r}")
        if not (isinstance(self.bc_weight, (int, float)) and self.bc_weight > 0):
            raise CourseError(f"bc_weight must be a number > 0, got {self.bc_weight!r}")
        if not isinstance(self.q_filter, bool):
            raise CourseError(f"q_filter must be true or false, got {self.q_filter!r}")
        cycle = self.cycle_steps
        for name in ("eval_every", "checkpoint_every"):
            if getattr(self, name) % cycle:
                raise CourseError(f"{name} must be a multiple of a cycle's {cycle} env steps (n_envs x "
                                  f"episodes_per_cycle x the episode length), got {getattr(self, name)}: "
                                  "a run is evaluated and checkpointed between cycles")
        horizon = episode_length(self.env_id)
        if not isinstance(self.learning_starts, int) or self.learning_starts < horizon:
            raise CourseError(f"learning_starts must be at least one episode ({horizon} steps), got "
                              f"{self.learning_starts!r}: only complete episodes can be relabelled")

    @property
    def cycle_steps(self) -> int:
        """Env steps collected per cycle."""
        return self.n_envs * self.episodes_per_cycle * episode_length(self.env_id)

    @classmethod
    def from_recipe(cls, env_id: str, **overrides: Any) -> "SacHerConfig":
        """The recipe of ``hyperparams/sac_her.yml`` for ``env_id``, with ``overrides`` applied."""
        known = {f.name for f in fields(cls)} - {"env_id"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise CourseError(f"unknown setting {', '.join(map(repr, unknown))} for {BOOK_ALGORITHM}; "
                              f"known: {', '.join(sorted(known))}")
        recipe = {**load_recipe(env_id, known), **overrides}
        recipe["net_arch"] = tuple(recipe["net_arch"])
        # evaluations and checkpoints fall between cycles: a default interval is rounded up to whole cycles
        cycle = recipe.get("n_envs", 1) * recipe.get("episodes_per_cycle", 1) * episode_length(env_id)
        if isinstance(cycle, int) and cycle > 0:  # otherwise __post_init__ names the bad setting
            for name in ("eval_every", "checkpoint_every"):
                recipe.setdefault(name, -(-DEFAULTS[name] // cycle) * cycle)
        return cls(env_id=env_id, **recipe)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SacHerConfig":
        """The inverse of :meth:`as_dict` (a config as recorded in ``state.json`` or a deliverable)."""
        return cls(**{**values, "net_arch": tuple(values["net_arch"]),
                      "physics_ranges": tuple(tuple(r) for r in values.get("physics_ranges", ()))})

    def train(self, run_dir: Path, run: RunRecord | None = None) -> RunResult:
        from gcrl.rl.sac_her.learner import train  # the run loop imports this module

        return train(self, run_dir, run)

    def cost(self) -> float:
        """Relative compute, in the units of the other learners (env steps x squared widths at one update of 256
        per step): gradient steps x minibatch / 256 x the squared widths of the networks."""
        updates = max(0, self.total_steps - self.learning_starts) // self.cycle_steps * self.updates_per_cycle
        batch = self.batch_size + (self.demo_batch_size if self.demo_episodes else 0)
        return updates * batch / 256 * sum(w * w for w in self.net_arch)

    def cpus(self) -> int:
        return self.torch_threads + (self.collector_processes if self.collector == "process" else 0)

    def load_policy(self, run_dir: Path) -> Policy:
        from gcrl.rl.sac_her.learner import load_agent

        agent, normalizer = load_agent(run_dir, self)
        return lambda observation: agent.act(normalizer(observation), deterministic=True)


#: What a recorded config lacks was added to :class:`SacHerConfig` later; its default is what that run used.
DEFAULTS = {f.name: f.default for f in fields(SacHerConfig) if f.default is not MISSING}


def fixed_temperature(config: SacHerConfig) -> float | None:
    """The temperature the config holds fixed, or ``None`` when it is learned."""
    return None if config.ent_coef == "auto" else float(config.ent_coef)
