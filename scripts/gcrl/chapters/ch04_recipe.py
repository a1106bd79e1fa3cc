"""Chapter 4's recipe, as the chapter states it: every sentence about a config read from the config.

Push's recipe in one sentence, a run's cycle as the settings table gives it, the
recipe against its library peer (SB3's SAC with the zoo's entry) and against the
original HER schedule, and what one run spent. The plan that trains the recipe
is :mod:`gcrl.chapters.ch04_her`.
"""

from __future__ import annotations

from typing import Any

from gcrl.chapters import ch04_her
from gcrl.core.seeds import REPORTING_SEED_BASE
from gcrl.course.profiles import HerBudget
from gcrl.rl.learners import make_config
from gcrl.rl.run_folder import LearnerConfig, RunResult
from gcrl.rl.sac_her.config import SacHerConfig


def schedule_text(config: LearnerConfig) -> str:
    """A run's cycle as the settings table states it (the book's SAC+HER); SB3's learners step once per update."""
    if not isinstance(config, SacHerConfig):
        return "1 env, 1 update per step"
    return (f"{config.n_envs} env x {config.episodes_per_cycle} ep, {config.updates_per_cycle} updates "
            f"({config.updates_per_cycle / config.cycle_steps:.2g} per step)")


def recipe_text(config: SacHerConfig) -> str:
    """Push's recipe in one sentence, every value read from the config."""
    temperature = "learned" if config.ent_coef == "auto" else f"held at {config.ent_coef:g}"
    return (f"{config.n_envs} environments playing {config.episodes_per_cycle} episodes each per cycle "
            f"({config.cycle_steps:,} env steps), then {config.updates_per_cycle} gradient steps on minibatches of "
            f"{config.batch_size}; networks of {' × '.join(map(str, config.net_arch))}; γ = {config.gamma:g}, "
            f"Polyak rate {config.tau:g}, learning rate {config.learning_rate:g}; the temperature {temperature}; "
            f"a uniform random action with probability {config.random_eps:g} while collecting; targets "
            f"{'clipped to [−1/(1−γ), 0]' if config.target_clip else 'unclipped'}; normalised observations clipped "
            f"at ±{config.obs_clip:g}")


def every(updates: int, env_steps: int) -> str:
    """A schedule of gradient steps as the prose states it."""
    return f"{updates} after every {env_steps:,} env steps" if env_steps > 1 else f"{updates} after every env step"


def library_text(env_id: str) -> str:
    """:func:`recipe_against_library` as a clause: each differing setting with the library's value beside it."""
    differences = recipe_against_library(env_id)
    return "; ".join(f"{k if ' ' in k else f'`{k}`'} {ours} (the library's: {theirs})"  # a field, or the schedule
                     for k, (ours, theirs) in differences.items()) or "no setting"


def recipe_against_library(env_id: str) -> dict[str, tuple[str, str]]:
    """The settings in which the book's recipe for ``env_id`` (``hyperparams/sac_her.yml``) differs from its library
    peer, SB3's SAC with the task's entry of ``hyperparams/sac.yml``: setting -> (the book's value, the library's).

    Where the entry sets nothing the library's default applies, read from the signatures of SB3's ``SAC`` (one
    gradient step after every env step) and ``VecNormalize`` (observations clipped at 10); SB3 has no random
    actions besides the policy's noise and no clipped target.
    """
    import inspect

    from stable_baselines3 import SAC
    from stable_baselines3.common.vec_env import VecNormalize

    book = SacHerConfig.from_recipe(env_id, total_steps=1)
    peer = make_config("sac", env_id, total_steps=1).as_dict()
    default = {name: p.default for name, p in inspect.signature(SAC).parameters.items()}
    hyper = {**default, **peer["hyperparams"]}
    library = {"net_arch": tuple(hyper["policy_kwargs"]["net_arch"]),
               **{k: hyper[k] for k in ("batch_size", "learning_rate", "gamma", "tau", "learning_starts", "ent_coef")},
               "n_sampled_goal": peer["her"]["n_sampled_goal"], "goal_selection_strategy": peer["her"]["goal_selection_strategy"],
               "n_envs": peer["n_envs"],
               "gradient steps": every(hyper["gradient_steps"], hyper["train_freq"]),
               "random_eps": 0.0, "target_clip": False,
               "obs_clip": inspect.signature(VecNormalize).parameters["clip_obs"].default}
    ours = {**{k: getattr(book, k) for k in library if hasattr(book, k)},
            "gradient steps": every(book.updates_per_cycle, book.cycle_steps)}

    def shown(value: Any) -> str:
        return " × ".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}" if isinstance(
            value, float) else f"{value}"

    return {k: (shown(ours[k]), shown(library[k])) for k in library if shown(ours[k]) != shown(library[k])}


def cost_text(result: RunResult) -> str:
    """What one run of the book's SAC+HER spent, read from its last evaluation: gradient steps, sample-gradients,
    env steps and training minutes."""
    last, batch = result.curve[-1], result.config.batch_size
    return (f"{last['updates']:,} gradient steps on minibatches of {batch} ({last['updates'] * batch:,} "
            f"sample-gradients) for {last['env_steps']:,} env steps, in {last['train_s'] / 60:.1f} minutes of "
            "training on the machine that ran this chapter")


#: The original HER code's schedule (openai/baselines ``her/experiment/config.py``: per cycle each worker plays
#: 2 episodes, then takes 40 gradient steps of 256 transitions on 3 x 256 networks, the workers' gradients
#: averaged, so that one step consumes workers x 256 transitions), with the 8 MPI workers of the DDPG+HER
#: reimplementation whose Push figure Chapter 4 quotes.
ORIGINAL_HER = {"workers": 8, "episodes": 2, "updates": 40, "net_arch": (256, 256, 256), "batch_per_worker": 256}


def recipe_origin(recipe: SacHerConfig) -> dict[str, str]:
    """Push's recipe against the original HER schedule, as Chapter 4 states it: every value read from the two."""
    original = ORIGINAL_HER
    original_batch = original["workers"] * original["batch_per_worker"]
    ratio = (recipe.batch_size * sum(w * w for w in recipe.net_arch)) / (
        original_batch * sum(w * w for w in original["net_arch"]))
    widths = " × ".join(map(str, recipe.net_arch))
    return {
        "her_workers": f"{original['workers']}",
        "recipe_schedule": (f"{recipe.n_envs} environments play {recipe.episodes_per_cycle} episodes each with a frozen "
                            f"policy, and the learner then takes {recipe.updates_per_cycle} gradient steps"),
        "recipe_size": f"{widths} and {recipe.batch_size}",
        "her_size": (f"{' × '.join(map(str, original['net_arch']))} and {original['batch_per_worker']} per worker, "
                     f"{original_batch:,} in all"),
        "recipe_cost_ratio": f"about 1/{1 / ratio:.0f}" if ratio < 1 else f"about {ratio:.1f} times",
        "recipe_random_eps": f"{recipe.random_eps:g}",
        "recipe_alpha": "a learned value" if recipe.ent_coef == "auto" else f"{float(recipe.ent_coef):g}",
    }


def push_recipe(budget: HerBudget) -> SacHerConfig:
    """The config Push trains with hindsight under ``budget`` (on the first reporting seed): the recipe, with the
    profile's overrides."""
    return ch04_her.config(ch04_her.push_variants(budget)["HER"], REPORTING_SEED_BASE, budget)
