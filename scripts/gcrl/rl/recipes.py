"""Recipes: the hyperparameters of every learner, read from versioned YAML files and validated.

``hyperparams/<algo>.yml`` holds one entry per environment, in the style of
rl-baselines3-zoo. They are the only home of a recipe's hyperparameters: the
learners' config classes take their values from here (the book's SAC+HER reads
``sac_her.yml``, whose keys are its config's fields), and a chapter or a profile
changes one only by naming it as an override. An unknown key or a value outside its domain
is a :class:`CourseError` that names it.
"""

from __future__ import annotations

import inspect
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


def _number(low: float, high: float, closed_low: bool = False, closed_high: bool = True):
    def check(value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return False
        return (low <= value if closed_low else low < value) and (value <= high if closed_high else value < high)
    return check


def _integer(low: int):
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


_VALUE_RULES: dict[str, tuple[str, Any]] = {
    "learning_rate": ("a number > 0", _number(0, float("inf"))),
    "gamma": ("a number in (0, 1]", _number(0, 1)),
    "tau": ("a number in (0, 1]", _number(0, 1)),
    "gae_lambda": ("a number in [0, 1]", _number(0, 1, closed_low=True)),
    "clip_range": ("a number in (0, 1)", _number(0, 1, closed_high=False)),
    "batch_size": ("an integer >= 1", _integer(1)),
    "buffer_size": ("an integer >= 1", _integer(1)),
    "n_steps": ("an integer >= 1", _integer(1)),
    "n_epochs": ("an integer >= 1", _integer(1)),
    "learning_starts": ("an integer >= 0", _integer(0)),
    "gradient_steps": ("an integer >= 1, or -1", lambda v: _integer(1)(v) or v == -1),
    "train_freq": ("an integer >= 1", _integer(1)),
    "ent_coef": ("a number >= 0, 'auto' or 'auto_<init>'",
                 lambda v: _number(0, float("inf"), closed_low=True)(v) or (isinstance(v, str) and v.startswith("auto"))),
    "policy_kwargs": ("a mapping", lambda v: isinstance(v, dict)),
    "n_envs": ("an integer >= 1", _integer(1)),
    "normalize": ("true or false", lambda v: isinstance(v, bool)),
    "her": ("a mapping with n_sampled_goal and goal_selection_strategy",
            lambda v: isinstance(v, dict) and set(v) == {"n_sampled_goal", "goal_selection_strategy"}
            and v["goal_selection_strategy"] in ("future", "final", "episode") and _integer(0)(v["n_sampled_goal"])),
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
    for key, value in values.items():
        rule = _VALUE_RULES.get(key)
        if rule and not rule[1](value):
            raise CourseError(f"{where}: {key} must be {rule[0]}, got {value!r}")


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
