"""The configuration of the book's SAC+HER: every setting that decides a run, as data, checked where it is made.

A recipe (``hyperparams/sac_her.yml``) gives the settings per task; :meth:`SacHerConfig.from_recipe`
applies overrides to it. Each field is documented where it is declared and read where its comment says:
the losses in :mod:`gcrl.rl.sac_her.algorithm`, the schedule and the buffers in
:mod:`gcrl.rl.sac_her.learner`, collection in :mod:`gcrl.rl.sac_her.collector`, demonstrations in
:mod:`gcrl.rl.sac_her.demonstrations`. Each field's domain is one entry of :data:`RULES`; the few
checks that relate two fields follow it. The config trains nothing: :mod:`gcrl.rl.learners` does.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any

import torch

from gcrl.core.errors import CourseError
from gcrl.rl import her, perturb
from gcrl.rl.envs import FETCH_ENV_IDS, episode_length
from gcrl.rl.evaluate import EVAL_SEED_BASE
from gcrl.rl.experts import EXPERTS
from gcrl.rl.recipes import BOOK_ALGORITHM, POSITIVE, RUN_RULES, Rule, check_rules, choice, flag, integer, \
    load_recipe, number

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


def cycle_steps(env_id: str, n_envs: int, episodes_per_cycle: int) -> int:
    """Env steps collected per cycle: ``n_envs`` x ``episodes_per_cycle`` episodes of the task's length."""
    return n_envs * episodes_per_cycle * episode_length(env_id)


@dataclass(frozen=True)
class SacHerConfig:
    """Everything that decides a run of the book's SAC+HER. Build one with :meth:`from_recipe`."""

    # the task (one of gcrl.rl.envs.FETCH_ENV_IDS) and the run's budget in env steps
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
    # the learner's torch threads (gcrl.rl.sac_her.learner.TrainingState holds torch to them)
    torch_threads: int = 1
    # the seed of the networks' initialisation, the environments' streams and the minibatches
    seed: int = 0
    # evaluation (gcrl.rl.run.Schedule): every eval_every env steps, on eval_episodes held-out episodes reset
    # with seeds eval_seed, eval_seed + 1, ...; the run stops at the first evaluation that reaches target_success
    eval_every: int = 1_000
    eval_episodes: int = 50
    eval_seed: int = EVAL_SEED_BASE
    target_success: float | None = None
    # a checkpoint every checkpoint_every env steps (gcrl.rl.run_folder), from which a run resumes exactly
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
        check_rules({f.name: getattr(self, f.name) for f in fields(self)}, RULES)
        # the checks that relate two settings
        if self.actual_goal_fraction and not self.n_sampled_goal:
            raise CourseError("actual_goal_fraction needs relabelling (n_sampled_goal > 0): it is a share of the "
                              "relabelled rows")
        if not self.collector_processes <= self.n_envs:
            raise CourseError(f"collector_processes must be an integer from 1 to n_envs ({self.n_envs}), "
                              f"got {self.collector_processes!r}")
        if self.collector_processes > 1 and self.collector != "process":
            raise CourseError(f"collector_processes {self.collector_processes} needs collector 'process', "
                              f"not {self.collector!r}")
        if self.demo_episodes and self.env_id not in EXPERTS:
            raise CourseError(f"demo_episodes needs a scripted expert, and {self.env_id} has none; "
                              f"there is one for {', '.join(EXPERTS)}")
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
        return cycle_steps(self.env_id, self.n_envs, self.episodes_per_cycle)

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
        cycle = cycle_steps(env_id, recipe.get("n_envs", 1), recipe.get("episodes_per_cycle", 1))
        if isinstance(cycle, int) and cycle > 0:  # otherwise __post_init__ names the bad setting
            defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
            for name in ("eval_every", "checkpoint_every"):
                recipe.setdefault(name, -(-defaults[name] // cycle) * cycle)
        return cls(env_id=env_id, **recipe)

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SacHerConfig":
        """The inverse of :meth:`as_dict` (a config as recorded in ``state.json`` or a deliverable)."""
        return cls(**{**values, "net_arch": tuple(values["net_arch"]),
                      "physics_ranges": tuple(tuple(r) for r in values.get("physics_ranges", ()))})

    def cost(self) -> float:
        """Relative compute, in the units of the other learners (env steps x squared widths at one update of 256
        per step): gradient steps x minibatch / 256 x the squared widths of the networks."""
        updates = max(0, self.total_steps - self.learning_starts) // self.cycle_steps * self.updates_per_cycle
        batch = self.batch_size + (self.demo_batch_size if self.demo_episodes else 0)
        return updates * batch / 256 * sum(w * w for w in self.net_arch)

    def cpus(self) -> int:
        return self.torch_threads + (self.collector_processes if self.collector == "process" else 0)



SWITCH = Rule("true or false", flag)
#: Each setting's domain (the checks that relate two settings are in :meth:`SacHerConfig.__post_init__`).
RULES: dict[str, Rule] = {
    **RUN_RULES,
    **{name: POSITIVE for name in ("batch_size", "n_envs", "episodes_per_cycle", "updates_per_cycle", "torch_threads",
                                   "demo_batch_size")},
    "net_arch": Rule("a non-empty list of positive widths",
                     lambda v: bool(v) and all(integer(1)(w) for w in v)),
    "learning_rate": Rule("> 0", number(0)),
    "gamma": Rule("in (0, 1]", number(0, 1)),
    "tau": Rule("in (0, 1]", number(0, 1)),
    "ent_coef": Rule("'auto' or a number > 0", lambda v: v == "auto" or number(0)(v)),
    "random_eps": Rule("a number in [0, 1]", number(0, 1, closed_low=True)),
    "target_clip": SWITCH,
    "critic_layer_norm": SWITCH,
    "action_l2": Rule("a number >= 0", number(0, closed_low=True)),
    "actual_goal_fraction": Rule("a number in [0, 1]", number(0, 1, closed_low=True)),
    "obs_clip": Rule("a number > 0", number(0)),
    "device": choice(*DEVICES),
    "collector": choice(*COLLECTORS),
    "compile_mode": choice(*COMPILE_MODES),
    "collector_processes": Rule("a positive integer", integer(1)),
    "observation_noise": Rule("a number >= 0", number(0, closed_low=True)),
    "physics_ranges": Rule(f"a list of (field, low, high) with field in {', '.join(perturb.PHYSICS_FIELDS)} and "
                           f"-1 < low <= high", lambda v: all(len(e) == 3 and e[0] in perturb.PHYSICS_FIELDS
                                                              and -1 < e[1] <= e[2] for e in v)),
    "demo_episodes": Rule("an integer >= 0", integer(0)),
    "bc_weight": Rule("a number > 0", number(0)),
    "q_filter": SWITCH,
}


def fixed_temperature(config: SacHerConfig) -> float | None:
    """The temperature the config holds fixed, or ``None`` when it is learned."""
    return None if config.ent_coef == "auto" else float(config.ent_coef)
