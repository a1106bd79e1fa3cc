"""Recipes: the hyperparameters of every learner, read from versioned YAML files and validated.

``hyperparams/<algo>.yml`` holds one entry per environment, in the style of
rl-baselines3-zoo. They are the only home of a recipe's hyperparameters: the
learners' config classes take their values from here (the book's SAC+HER reads
``sac_her.yml``, whose keys are its config's fields), and a chapter or a profile
changes one only by naming it as an override. An unknown key or a value outside its domain
is a :class:`CourseError` that names it; the domains are tables of :class:`Rule`, one
per setting (here for the libraries' hyperparameters, in
:mod:`gcrl.rl.sac_her.config` for the book's).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gcrl.core.errors import CourseError

HYPERPARAMS_DIR = Path(__file__).with_name("hyperparams")
#: Stable-Baselines3 (and sb3-contrib) learners the course trains.
OFF_POLICY = ("sac", "td3", "tqc")
SB3_ALGORITHMS = ("ppo", *OFF_POLICY)
#: The book's SAC+HER (:mod:`gcrl.rl.sac_her`), whose recipes are ``hyperparams/sac_her.yml``.
BOOK_ALGORITHM = "sac+her"
#: Every name :func:`gcrl.rl.learners.make_config` knows.
ALGORITHMS = (BOOK_ALGORITHM, *SB3_ALGORITHMS)
#: Constructor arguments the toolkit sets itself; a hyperparameter file may not.
RESERVED = {"policy", "env", "seed", "verbose", "tensorboard_log", "device", "_init_setup_model",
            "replay_buffer_class", "replay_buffer_kwargs", "rollout_buffer_class", "rollout_buffer_kwargs"}
#: Keys of a hyperparameter entry that configure the toolkit rather than the algorithm.
TOOLKIT_KEYS = {"n_envs", "normalize", "her"}


def algorithm_class(algo: str):
    """The library class of a Stable-Baselines3 (or sb3-contrib) learner."""
    if algo == "tqc":
        from sb3_contrib import TQC

        return TQC
    import stable_baselines3

    return {"ppo": stable_baselines3.PPO, "sac": stable_baselines3.SAC, "td3": stable_baselines3.TD3}[algo]


@dataclass(frozen=True)
class Rule:
    """A setting's domain: what a value must be, in words, and the test of it."""

    must_be: str
    test: Callable[[Any], bool]

    def error(self, name: str, value: Any) -> str:
        return f"{name} must be {self.must_be}, got {value!r}"


@dataclass(frozen=True)
class Choice(Rule):
    """A setting that names one of a few options."""

    options: tuple[str, ...] = ()

    def error(self, name: str, value: Any) -> str:
        return f"unknown {name} {value!r}; choose one of {', '.join(self.options)}"


def choice(*options: str) -> Choice:
    return Choice(f"one of {', '.join(options)}", lambda value: value in options, options)


def number(low: float, high: float = float("inf"), closed_low: bool = False,
           closed_high: bool = True) -> Callable[[Any], bool]:
    """The test of a real number in the interval from ``low`` to ``high`` (a bool is not a number here)."""
    def check(value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (low <= value if closed_low else low < value) and (value <= high if closed_high else value < high)
    return check


def integer(low: int) -> Callable[[Any], bool]:
    """The test of an integer at least ``low`` (a bool is not an integer here)."""
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def flag(value: Any) -> bool:
    return isinstance(value, bool)


POSITIVE = Rule("a positive integer", integer(1))
#: The rules every learner's config shares: its budget, its evaluation and checkpoint grid, and the success at
#: which an evaluation stops the run.
RUN_RULES: dict[str, Rule] = {
    **{name: POSITIVE for name in ("total_steps", "eval_every", "eval_episodes", "checkpoint_every")},
    "target_success": Rule("in (0, 1]", lambda v: v is None or number(0, 1)(v)),
}


def check_rules(values: dict[str, Any], rules: dict[str, Rule], where: str = "") -> None:
    """Raise :class:`CourseError` for the first value outside its rule's domain, naming the setting."""
    for key, value in values.items():
        rule = rules.get(key)
        if rule is not None and not rule.test(value):
            raise CourseError(f"{where}{rule.error(key, value)}")


_VALUE_RULES: dict[str, Rule] = {
    "learning_rate": Rule("a number > 0", number(0)),
    "gamma": Rule("a number in (0, 1]", number(0, 1)),
    "tau": Rule("a number in (0, 1]", number(0, 1)),
    "gae_lambda": Rule("a number in [0, 1]", number(0, 1, closed_low=True)),
    "clip_range": Rule("a number in (0, 1)", number(0, 1, closed_high=False)),
    "batch_size": Rule("an integer >= 1", integer(1)),
    "buffer_size": Rule("an integer >= 1", integer(1)),
    "n_steps": Rule("an integer >= 1", integer(1)),
    "n_epochs": Rule("an integer >= 1", integer(1)),
    "learning_starts": Rule("an integer >= 0", integer(0)),
    "gradient_steps": Rule("an integer >= 1, or -1", lambda v: integer(1)(v) or v == -1),
    "train_freq": Rule("an integer >= 1", integer(1)),
    "ent_coef": Rule("a number >= 0, 'auto' or 'auto_<init>'",
                     lambda v: number(0, closed_low=True)(v) or (isinstance(v, str) and v.startswith("auto"))),
    "policy_kwargs": Rule("a mapping", lambda v: isinstance(v, dict)),
    "n_envs": Rule("an integer >= 1", integer(1)),
    "normalize": Rule("true or false", flag),
    "her": Rule("a mapping with n_sampled_goal and goal_selection_strategy",
                lambda v: isinstance(v, dict) and set(v) == {"n_sampled_goal", "goal_selection_strategy"}
                and v["goal_selection_strategy"] in ("future", "final", "episode") and integer(0)(v["n_sampled_goal"])),
}


def allowed_keys(algo: str) -> set[str]:
    return set(inspect.signature(algorithm_class(algo).__init__).parameters) - RESERVED - {"self"}


def library_default(algo: str, key: str) -> Any:
    """The default value of constructor argument ``key`` in the library's ``algo`` class."""
    return inspect.signature(algorithm_class(algo).__init__).parameters[key].default


def check_hyperparams(algo: str, values: dict[str, Any], where: str, toolkit_keys: bool = False) -> None:
    """Raise :class:`CourseError` for a key the algorithm does not take or a value out of its domain."""
    known = allowed_keys(algo) | (TOOLKIT_KEYS if toolkit_keys else set())
    unknown = sorted(set(values) - known)
    if unknown:
        raise CourseError(f"{where}: unknown hyperparameter {', '.join(map(repr, unknown))} for {algo.upper()}; "
                          f"known: {', '.join(sorted(known))}")
    check_rules(values, _VALUE_RULES, where=f"{where}: ")


def _entry(path: Path, env_id: str) -> dict[str, Any]:
    """The raw entry for ``env_id`` in the YAML file ``path``."""
    try:
        table = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CourseError(f"{path.name} is not valid YAML: {exc}") from None
    if env_id not in table:
        raise CourseError(f"{path.name} has no entry for {env_id!r}; it has {', '.join(table) or 'none'}")
    return dict(table[env_id] or {})


def load_hyperparams(algo: str, env_id: str) -> dict[str, Any]:
    """The validated entry for ``env_id`` in ``hyperparams/<algo>.yml`` (a Stable-Baselines3 learner's recipe)."""
    path = HYPERPARAMS_DIR / f"{algo}.yml"
    if not path.is_file():
        raise CourseError(f"no hyperparameter file for {algo!r} ({path}); choose one of {', '.join(SB3_ALGORITHMS)}")
    entry = _entry(path, env_id)
    check_hyperparams(algo, entry, where=f"{path.name}: {env_id}", toolkit_keys=True)
    return entry


def load_recipe(env_id: str, known: set[str]) -> dict[str, Any]:
    """The book's SAC+HER recipe for ``env_id`` (``hyperparams/sac_her.yml``), whose keys are its config's fields.

    A key outside ``known`` is an error here; each value's domain is checked by
    the config that takes it (:class:`gcrl.rl.sac_her.config.SacHerConfig`).
    """
    path = HYPERPARAMS_DIR / "sac_her.yml"
    entry = _entry(path, env_id)
    unknown = sorted(set(entry) - known)
    if unknown:
        raise CourseError(f"{path.name}: {env_id}: unknown key {', '.join(map(repr, unknown))}; "
                          f"known: {', '.join(sorted(known))}")
    return entry
