# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 — Hindsight Experience Replay

# %% tags=["parameters", "remove-cell"]
# Parameters: papermill overrides these, and they are all the runner tells a chapter. Empty means, as
# in JupyterLab: the profile from $GCRL_PROFILE (else the default of gcrl.course.profiles), the results
# folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 1000  # the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones
results_root = ""
inputs_digest = "interactive"  # the runner's digest of the chapter's inputs: the key of its resumable training runs

# %% tags=["remove-input"]
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from gcrl.analysis import bench_push, experiments
from gcrl.analysis.bench import BenchConfig
from gcrl.analysis.plots import learning_curves, publish, steps_axis
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch04_her as ch04
from gcrl.chapters import ch04_recipe as recipe
from gcrl.chapters import ch04_records as records
from gcrl.chapters import ch04_search as search_records
from gcrl.core.paths import training_runs
from gcrl.course import profiles
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl import her, video
from gcrl.rl.envs import episode_length, task_name
from gcrl.rl.evaluate import evaluation_seeds
from gcrl.rl.sac_her.config import SacHerConfig

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch04", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# Chapter 3 ended with an obstacle that no learning rule can remove: on Push
# under the sparse reward, exploration almost never produces a success, and a
# replay buffer cannot replay what was never collected. This chapter removes it
# by changing the data instead of the learner. Because a Fetch reward is a known
# function of the achieved and the desired goal, and because the goal does not
# influence the physics, every stored transition is also a correct transition
# for any other goal once its reward is recomputed, as long as that goal is not
# chosen by looking at where the transition led (§1.3 states what changes when
# it is, as hindsight chooses it). Hindsight Experience Replay
# {cite:p}`andrychowicz2017her` substitutes goals the agent actually achieved,
# and so turns failed episodes into successful ones for the goals they happened
# to reach. We state the problem quantitatively, derive why the substitution
# leaves the soft Bellman target correct, state when it does not, define the
# goal-selection strategies and the {term}`relabelling ratio`, implement relabelling as
# pure functions tested against Stable-Baselines3, and train the book's own
# SAC+HER on Reach and on Push, with and without hindsight, on the same seeds.
# An ablation varies the number of substitute goals $k$ and the strategy. The
# book's implementation is benchmarked against the library recipe it follows
# (`make bench`).
#
# ## 1. Theoretical Foundations
#
# ### 1.1 The problem: a reward that exploration cannot find
#
# A goal-conditioned task in this course is a Markov decision process whose
# reward depends on the state only through an achieved goal
# $\phi(s) \in \mathbb{R}^3$: $r(s, a, s', g) = -\mathbb{1}\big[\lVert \phi(s') - g \rVert > \varepsilon\big]$,
# with $\varepsilon$ = {glue:text}`ch04_eps` m on every Fetch task (Chapter 1). Under
# this reward an episode that never comes within $\varepsilon$ of $g$ earns $-1$ at
# every step, whatever it did: nothing in the critic's targets depends on
# reaching $g$ or on which action approached it, and the actor is driven by the
# entropy term of its loss alone.
#
# How often does undirected behaviour come within $\varepsilon$ of the goal? If
# the achieved goal were spread uniformly over the set $S$ on which the goals
# are drawn, a set of dimension $q$ and volume $|S|$, the chance of landing in
# the ball of radius $\varepsilon$ around a goal would be, away from the edges of
# $S$, the volume ratio
#
# $$
# p_q(\varepsilon, S) = \frac{\pi^{q/2}}{\Gamma(q/2 + 1)} \frac{\varepsilon^{q}}{|S|} .
# $$
#
# For a cube of side $\ell$, $|S| = \ell^q$, and the ratio falls faster than
# exponentially in $q$: each added dimension multiplies it by
# $(\varepsilon/\ell)\,\sqrt{\pi}\,\Gamma(q/2+1)/\Gamma(q/2+3/2)$, a factor that itself
# shrinks with $q$. What matters for a task is the dimension and the extent of
# *its* goal set, which the goal sampler decides. The table reads both off each
# task's own goals ({glue:text}`ch04_goal_resets` resets): Reach draws them in a box of free
# space, Push and Slide on the table's plane (the goal's height is fixed, so
# $q = 2$), PickAndPlace half on the table and half in the air. The last column
# is the same chance estimated directly, as the fraction of independent pairs of
# goals that lie within $\varepsilon$ of each other; it is a little lower because
# near the edges of $S$ part of the ball falls outside it.

# %% tags=["hide-input"]
eps = ch04.success_threshold()
chances = [ch04.goal_chance(env_id, pairs=5_000, seed=30_000, threshold=eps) for env_id in ch04.GOAL_TASKS]
pd.DataFrame([{
    "task": task_name(c["env_id"]),
    "goal set": "; ".join(f"{k['component']}: {k['dimension']}-D, {' × '.join(f'{x:g}' for x in k['extent_m'])} m"
                          f" ({k['weight']:.0%})" for k in c["components"]),
    "volume ratio p_q": f"{c['volume_ratio']:.4f}",
    "pairs within ε": f"{c['monte_carlo']:.4f} [{c['monte_carlo_ci95'][0]:.4f}, {c['monte_carlo_ci95'][1]:.4f}]",
} for c in chances]).set_index("task")

# %% tags=["hide-input"]
glue("ch04_eps", f"{eps:g}", display=False)
glue("ch04_goal_resets", f"{2 * chances[0]['pairs']:,}", display=False)
by_task = {task_name(c["env_id"]).lower(): c for c in chances}
for key, c in by_task.items():
    glue(f"ch04_chance_{key}", f"{c['volume_ratio']:.3f}", display=False)

# %% [markdown]
# The ratio is {glue:text}`ch04_chance_reach` for Reach's three-dimensional box,
# {glue:text}`ch04_chance_push` for Push's square, {glue:text}`ch04_chance_pickandplace`
# for PickAndPlace and {glue:text}`ch04_chance_slide` for Slide's wider square. On
# Push it is also not the gripper but the block that must arrive, which random
# motion seldom even touches. Chapter 1 measured the consequence directly: the
# success rate of random and of zero actions on Push is
# {glue:text}`ch04_push_floor`, a floor made by episodes whose block starts within
# $\varepsilon$ of the goal ({glue:text}`ch04_push_reset` of them). Chapter 3
# trained SAC without hindsight on Push for {glue:text}`ch04_ch3_steps` env steps
# and measured {glue:text}`ch04_ch3_push`: {glue:text}`ch04_ch3_verdict` (the rule
# of Chapter 2, §3.1).
#
# ### 1.2 Goals can be exchanged after the fact
#
# Two properties of the Fetch tasks make every stored transition reusable.
#
# 1. *The goal does not enter the dynamics.* The next state is drawn from
#    $P(s' \mid s, a)$, whatever $g$ is; the goal only marks a point in space.
# 2. *The reward is a known function of $(\phi(s'), g)$.* The environment
#    exposes it as `compute_reward(achieved_goal, desired_goal, info)`.
#
# Let $(s, a, s')$ be a transition collected while pursuing $g$. By property 1,
# the same triple has exactly the same probability under any other goal $g'$,
# and by property 2 its reward under $g'$ is
# $r' = -\mathbb{1}\big[\lVert \phi(s') - g' \rVert > \varepsilon\big]$, which we can compute
# without the simulator. So $(s, a, r', s', g')$ is a transition of the task
# with goal $g'$, taken by itself; §1.3 shows what changes when $g'$ is chosen
# after seeing $s'$ and what followed it. Choosing $g'$ among the goals the
# episode *achieved* makes $r'$ frequently zero: the failure to reach $g$
# becomes a success at reaching $g'$. The critic of a goal-conditioned
# learner, $Q(s, a, g)$ {cite:p}`schaul2015uvfa`, then sees rewarded transitions from the first
# episode onwards, and its generalisation across goals carries that value
# towards the goals that matter.
#
# ### 1.3 What relabelling does to the off-policy target
#
# Chapter 3's critic for goal $g$ regresses on
# $y = r + \gamma\big(\min_i Q_{\bar\psi_i}(s', a', g) - \alpha \log \pi(a' \mid s', g)\big)$ with a
# *fresh* action $a' \sim \pi(\cdot \mid s', g)$. Relabelling replaces $g$ by $g'$
# in every term: the reward is recomputed, the next action is drawn from the
# policy conditioned on $g'$, and the bootstrap reads $Q(s', a', g')$. Nothing
# in the target refers to the behaviour policy, so the transition is as valid a
# sample of the soft Bellman backup for goal $g'$ as for $g$ (Chapter 3,
# §1.4), for a $g'$ chosen without regard to the outcome (the next paragraphs
# qualify it for the goals hindsight chooses): SAC's {term}`off-policy` target
# is what allows a transition collected for one goal to train the value of
# another. An on-policy learner such as Chapter 2's
# PPO cannot do this without importance weights, because its estimator assumes
# that actions were drawn from the current policy *for the current goal*.
#
# The substitution is exact for a single transition whenever the distribution of
# $s'$ given $(s, a)$ is the one the environment would produce under $g'$. That
# holds by property 1 if $g'$ is chosen without looking at the outcome. It is
# not how HER chooses: `final`, `future` and `episode` draw $g'$ from states
# visited *after* (or around) $s'$, so $g'$ carries information about the
# realised $s'$. Two consequences follow.
#
# - *Stochastic dynamics bias the target.* Conditioning on a goal that was
#   reached selects the transitions whose random outcome went towards it. The
#   relabelled data then over-represent lucky outcomes, and $Q(s, a, g')$ is
#   overestimated for goals that the action reaches only sometimes. MuJoCo's
#   Fetch simulation is deterministic given its full state and the action. The
#   learner, however, conditions on the observation, which omits the arm's
#   joint angles and velocities (Chapter 1, §3.2); the bias is absent only
#   insofar as the observation determines the next achieved goal, which it does
#   closely here because the gripper follows a position target. It is present
#   on a real robot, and under the domain randomisation of Chapter 5, which
#   hides a physical parameter from the learner (Chapter 5, §3.6 measures a proxy for it).
# - *The goal distribution shifts.* Even with deterministic dynamics the critic
#   is trained on a mixture: a fraction $1/(k+1)$ of each minibatch keeps the
#   task's goal distribution, the rest follow the distribution of achieved
#   goals. With a tabular critic each $(s, a, g)$ has its own equation and the
#   fixed point is unchanged; with a function approximator the loss weights
#   its errors by the training distribution, so capacity is spent on goals the
#   agent already reaches. The weight $1/(k+1)$ on real goals is what keeps the
#   test-time goals in the objective.
#
# ### 1.4 Strategies and the relabelling ratio
#
# Let an episode have transitions $t = 0, \dots, T - 1$ and let
# $\phi_{j+1} = \phi(s_{j+1})$ be the goal achieved after transition $j$. A
# strategy chooses the index $j$ whose achieved goal replaces $g$ for
# transition $t$:
#
# | strategy | $j$ | substitute goal |
# |---|---|---|
# | `final` | $T - 1$ | where the episode ended |
# | `future` | uniform on $\{t, \dots, T - 1\}$ | a goal reached later in the same episode, or just now |
# | `episode` | uniform on $\{0, \dots, T - 1\}$ | any goal reached in the episode |
#
# `future` with $j = t$ always yields $r' = 0$: the transition that reached
# $\phi(s_{t+1})$ is, trivially, a success for that goal. Larger $j$ give
# goals that are reachable from $s_t$ but take more steps, which teaches the
# critic multi-step values. `episode` can choose goals reached *before* $s_t$,
# which may be unreachable in the remaining time. `final` gives only one
# distinct goal per episode. {numref}`fig-ch04-relabelling` draws `future` on one
# real episode.

# %% tags=["hide-input"]
sketch = ch04.relabelling_schematic("FetchReach-v4", seed=3, t=20)
path, t_shown = sketch["achieved"], sketch["t"]
fig, ax = plt.subplots(figsize=(7.4, 4.0))
ax.plot(path[:, 0], path[:, 1], "-", color="grey", lw=1)
ax.scatter(path[1:, 0], path[1:, 1], s=8, color="grey", label=r"achieved goals $\phi(s_{j+1})$")
ax.scatter(path[t_shown + 1:, 0], path[t_shown + 1:, 1], s=14, color="C0",
           label=r"future candidates, $j \geq t$")
ax.plot(*path[t_shown, :2], "ks", ms=7, label=rf"$\phi(s_t)$, $t = {t_shown}$")
for j, reward in zip(sketch["j"], sketch["rewards"]):
    ax.annotate("", xy=path[j + 1, :2], xytext=path[t_shown, :2],
                arrowprops={"arrowstyle": "->", "color": "C2" if reward == 0 else "C1", "lw": 1.2})
ax.plot(*sketch["goal"][:2], "r*", ms=14, label="the desired goal $g$")
ax.set(xlabel="x (m)", ylabel="y (m)", aspect="equal")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
fig.tight_layout()
publish(fig, out / "relabelling.png", "ch04_relabelling_fig")
rewarded = int(np.sum(sketch["rewards"] == 0))
glue("ch04_sketch_text", f"{len(sketch['j'])} substitutes drawn for transition {t_shown} (at j = "
     f"{', '.join(str(j) for j in sketch['j'])}), {rewarded} of them rewarded; its real reward is "
     f"{sketch['real_reward']:+.0f}", display=False)

# %% [markdown]
# ```{glue:figure} ch04_relabelling_fig
# :name: fig-ch04-relabelling
#
# Relabelling one episode (FetchReach, random actions, seen from above). Grey:
# the gripper's achieved goals, one after each transition; blue: those a
# `future` draw may pick for the marked transition; arrows: the
# {glue:text}`ch04_sketch_text`. An arrow is green when the substitute lies
# within the threshold of the state the transition reached (reward 0), orange
# otherwise.
# ```
#
# HER stores $k$ substitute goals for every real transition, so a fraction
# $k/(k+1)$ of the data is relabelled. Sampling minibatches instead of storing
# copies, Stable-Baselines3's `HerReplayBuffer` relabels the first
# $\lfloor \tfrac{k}{k+1} B \rfloor$ transitions of every minibatch of size $B$
# with a freshly drawn $j$; with $k$ = {glue:text}`ch04_recipe_k` and
# $B$ = {glue:text}`ch04_reach_batch`, {glue:text}`ch04_relabelled_count`. $k = 0$ is SAC
# without hindsight.
#
# **Goals actually commanded.** A fourth source does not look at the
# transition's own episode at all: it takes the desired goal $g_{e'}$ of a
# stored episode $e'$ drawn uniformly from the $E$ episodes in the buffer
# (mrl's "actual" goals; HER's `random` strategy, Andrychowicz et al. 2017,
# §4.5, substitutes goals achieved anywhere in the buffer, likewise chosen
# without looking at the transition's outcome). The reward is recomputed,
# $r' = r(\phi(s_{t+1}), g_{e'})$, so the transition stays valid, and since
# $e'$ is drawn without looking at the outcome, these rows escape §1.3's
# selection bias: for them the substitution is exact. If a fraction $\rho$ of
# the relabelled rows takes such a goal (`actual_goal_fraction`; the rest keep
# their `future` draw), the goals of a minibatch follow the mixture
#
# $$
# p_{\mathrm{train}}(g \mid s_t)
#   = \frac{1}{k+1}\, p_{\mathrm{task}}(g)
#   + \frac{k}{k+1}\Big[\rho\, \hat p_{\mathrm{task}}(g) + (1 - \rho)\, p_{\mathrm{future}}(g \mid s_t)\Big],
# $$
#
# where $\hat p_{\mathrm{task}}$ is the empirical distribution of the $E$
# commanded goals. Every episode's goal is drawn from the task's distribution
# at its reset, independently of everything else, so $\hat p_{\mathrm{task}}
# \to p_{\mathrm{task}}$ as $E$ grows, and the weight of the task's own goal
# distribution in the critic's loss rises from $1/(k+1)$ to
# $(1 + k\rho)/(k+1)$: with $k = 4$ and $\rho = 1/2$ (mrl's `futureactual_2_2`:
# a fifth real, two fifths `future`, two fifths actual), from $0.2$ to $0.6$.
# What these rows give up is the reward: a goal commanded in another episode
# is rarely reached by this transition, so almost all of them carry
# $r' = -1$. They teach the critic where success is *not*, at the goals the
# test will ask for, while the `future` rows go on supplying the successes
# that make the sparse reward informative. How many successes each kind of
# row carries is measured, not assumed: `tests/test_push_search.py` checks the
# mixture's counts, the uniformity of $e'$ and the recomputed rewards.
#
# ### 1.5 What to expect
#
# On Reach the goal is the gripper's own position, and `future` goals are
# reached by construction; hindsight should shorten the time to a reliable
# policy. On Push, relabelled rewards are zero only where the *block* was at
# the substitute goal, which, while the agent does not touch it, is where it
# started: most relabelled successes teach that leaving the block alone
# "reaches" its current position. The first useful signal arrives when
# exploration moves the block at all. Hindsight therefore does not make Push
# easy; it makes every push, however small, a success for some goal.

# %% tags=["hide-input"]
floor = ch01.floors(session.upstream, ch04.PUSH)
glue("ch04_push_floor", "; ".join(
    f"{name} actions {row['success_rate']:.1%} (95% CI [{row['success_ci95'][0]:.1%}, "
    f"{row['success_ci95'][1]:.1%}], {row['episodes']} episodes)" for name, row in floor.items()), display=False)
chapter3 = ch04.chapter3_push(session.upstream)
glue("ch04_ch3_steps", f"{chapter3['env_steps']:,}", display=False)
glue("ch04_ch3_push", experiments.pooled_text(chapter3), display=False)
glue("ch04_ch3_verdict", experiments.against_floor(chapter3, floor["random"]), display=False)
glue("ch04_push_reset", f"{floor['random']['success_at_reset_fraction']:.1%}", display=False)

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - sparse reward: $r(s, a, s', g) = -\mathbb{1}\big[\lVert \phi(s') - g \rVert > \varepsilon\big]$ (§1.1)
# - volume ratio: $p_q(\varepsilon, S) = \frac{\pi^{q/2}}{\Gamma(q/2 + 1)} \frac{\varepsilon^{q}}{|S|}$ (§1.1)
# - relabelled reward: $r' = -\mathbb{1}\big[\lVert \phi(s') - g' \rVert > \varepsilon\big]$ (§1.2)
# - critic target, $g$ replaced by $g'$ in every term: $y = r + \gamma\big(\min_i Q_{\bar\psi_i}(s', a', g) - \alpha \log \pi(a' \mid s', g)\big)$, $a' \sim \pi(\cdot \mid s', g)$ fresh (§1.3)
# - `future`: $j$ uniform on $\{t, \dots, T - 1\}$, substitute goal $\phi_{j+1} = \phi(s_{j+1})$ (§1.4)
# - relabelled share: $\lfloor \tfrac{k}{k+1} B \rfloor$ of a minibatch of size $B$, a weight $1/(k+1)$ on the task's own goals (§1.3–1.4)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# Every SAC run uses the book's implementation (§3.2) with its recipe for the
# task, `scripts/gcrl/rl/hyperparams/sac_her.yml`: observations normalised by
# running statistics, hindsight with `future` and $k$ = {glue:text}`ch04_recipe_k`
# unless the experiment varies it, and a schedule of *cycles*: in each, a number
# of environments play complete episodes with a frozen copy of the policy while
# the learner takes a fixed number of gradient steps on the episodes of earlier
# cycles (§3.2). Reach's recipe is the rl-baselines3-zoo recipe that Chapter 3's
# library peer uses: one environment, one episode and
# {glue:text}`ch04_reach_updates` gradient steps per cycle, that is one per
# environment step, the temperature learned with target entropy
# $-\dim\mathcal{A}$. Push's recipe, whose origin §3.4 explains, is:
# {glue:text}`ch04_push_recipe`. Evaluation is deterministic, on fixed
# held-out episode seeds, every {glue:text}`ch04_eval_every` environment steps
# on Reach and every {glue:text}`ch04_push_eval_every` on Push.
#
# The chapter runs four experiments:
#
# 1. SAC+HER on FetchReach, which must reach a deterministic success rate of at
#    least {glue:text}`ch04_threshold` on {glue:text}`ch04_eval_episodes` fixed episodes;
# 2. SAC with and without hindsight ($k$ = {glue:text}`ch04_recipe_k` against $k = 0$) on FetchPush,
#    with Push's recipe and the same budget, which must separate: hindsight at
#    {glue:text}`ch04_push_target` or more, without it at Chapter 1's floor;
# 3. the ablation over $k \in \{0, 1, 4, 8\}$ and over the three strategies, on
#    {glue:text}`ch04_ablation_task`;
# 4. in the full profile only, SAC+HER and TQC+HER {cite:p}`kuznetsov2020tqc`
#    on Push, PickAndPlace and Slide at the scale of the published results.

# %%
runs_plan = ch04.plan(budget, session.seeds)
settings = pd.DataFrame([{
    "task": task_name(variant.env_id), "algorithm": variant.algo,
    "k": variant.n_sampled_goal, "strategy": variant.strategy, "env steps": variant.env_steps,
    "seeds": sum(1 for (v, _) in runs_plan if v == variant),
    "network": str(getattr(config, "net_arch", None) or config.hyperparams["policy_kwargs"]["net_arch"]),
    "batch": getattr(config, "batch_size", None) or config.hyperparams["batch_size"],
    "cycle": recipe.schedule_text(config),
    "evaluate every": config.eval_every, "episodes": config.eval_episodes,
} for (variant, s), config in runs_plan.items() if s == session.seeds[0]])
glue("ch04_threshold", f"{ch04.THRESHOLD:.0%}", display=False)
glue("ch04_eval_episodes", f"{budget.eval_episodes}", display=False)
glue("ch04_ablation_task", task_name(budget.ablation_env_id), display=False)
glue("ch04_arms", f"{len(ch04.ablation_variants(budget))}", display=False)
glue("ch04_runs", f"{len(runs_plan)}", display=False)
glue("ch04_seeds", f"{budget.seeds}", display=False)
glue("ch04_recipe_k", f"{ch04.RECIPE_K}", display=False)
glue("ch04_eval_every", f"{budget.eval_every:,}", display=False)
glue("ch04_push_eval_every", f"{budget.push_eval_every:,}", display=False)
reach_batch = runs_plan[(ch04.reach_variant(budget), session.seeds[0])].batch_size
glue("ch04_reach_batch", f"{reach_batch}", display=False)
glue("ch04_relabelled_count", f"{her.relabelled_count(reach_batch, ch04.RECIPE_K)} of every {reach_batch} transitions "
                              f"({her.relabelled_count(reach_batch, ch04.RECIPE_K) / reach_batch:.1%})", display=False)
push_recipe = recipe.push_recipe(budget)
glue("ch04_push_recipe", recipe.recipe_text(push_recipe), display=False)
glue("ch04_push_target", f"{ch04.PUSH_TARGET:.0%}", display=False)
glue("ch04_reach_updates", f"{runs_plan[(ch04.reach_variant(budget), session.seeds[0])].updates_per_cycle}",
     display=False)
glue("ch04_push_seeds", f"{budget.push_seeds}", display=False)
glue("ch04_push_eval_episodes", f"{budget.push_eval_episodes}", display=False)
glue("ch04_push_setting", "Under this profile Push trains its recipe." if not budget.push_overrides else
     "Under this profile Push trains a reduced recipe (" + ", ".join(f"{k} {v}" for k, v in budget.push_overrides)
     + "), which checks that the code runs, not that Push is learned.", display=False)
glue("ch04_long_seeds", f", and each long run on {budget.long_seeds}" if budget.long_seeds else
     " (the long runs belong to the full profile)", display=False)
bench_defaults = BenchConfig()
glue("ch04_bench_starts", f"{bench_defaults.book_learning_starts:,}", display=False)
glue("ch04_recipe_starts", f"{SacHerConfig.from_recipe(ch04.REACH, total_steps=1_000).learning_starts:,}", display=False)
glue("ch04_bench_every", f"{bench_defaults.eval_every:,}", display=False)
glue("ch04_bench_episodes", f"{bench_defaults.eval_episodes}", display=False)
glue("ch04_bench_threshold", f"{bench_defaults.threshold:.0%}", display=False)
glue("ch04_library_reach", recipe.library_text(ch04.REACH), display=False)
glue("ch04_library_push", recipe.library_text(ch04.PUSH), display=False)
settings

# %% [markdown]
# Reach and the ablation are trained on {glue:text}`ch04_seeds` seed(s), Push on
# {glue:text}`ch04_push_seeds`{glue:text}`ch04_long_seeds`; {glue:text}`ch04_runs`
# runs in all, a run shared by two experiments being trained once. A Push run
# occupies both cores of the machine the standard profile is measured on (the
# learner on one, the collector process on the other), so its seeds are what the
# profile's time allows.
# {glue:text}`ch04_push_setting` The ablation runs on
# {glue:text}`ch04_ablation_task` under this profile, where its {glue:text}`ch04_arms` arms are cheap
# enough to train on every seed; the full profile runs it on Push.
#
# ```{note}
# The chapter depends on Chapter 1 (the success floor) and Chapter 3 (SAC
# without hindsight on Push, trained by Stable-Baselines3). Run them first with
# the same profile; the chapter names the missing one otherwise.
# ```

# %%
trained = ch04.train_runs(runs_plan, training_runs(out, inputs_digest), run)

# %% [markdown]
# ## 3. Implementation Details
#

# %% [markdown]
# :::{admonition} Algorithm: SAC+HER as `learner.py` runs it
# :class: note
#
# Settings in backticks are fields of `SacHerConfig`; $N$ = `n_envs`,
# $E$ = `episodes_per_cycle`, $U$ = `updates_per_cycle`, $B$ = `batch_size`,
# $k$ = `n_sampled_goal`, $\gamma$ = `gamma`, $\beta$ = `tau`, $T$ the episode length.
#
# 1. Initialise the actor $\pi_\theta$, the twin critic $Q_{\psi_1}, Q_{\psi_2}$ and
#    its targets $\bar\psi_i \leftarrow \psi_i$, the temperature ($\alpha = 1$, or held
#    at `ent_coef` when that is a number), the normaliser's statistics
#    $(\mu, \sigma)$ and an empty buffer of whole episodes; take the snapshot
#    $(\theta_0, \mu_0, \sigma_0)$.
# 2. For cycles $c = 0, 1, \dots$, until the buffer holds `total_steps` environment
#    steps or an evaluation reaches `target_success`:
#    1. *Collect* (`collector.py`, in a process of its own if `collector` is
#       `process`): $N$ environments play $E$ complete episodes
#       each with the snapshot $(\theta_c, \mu_c, \sigma_c)$: uniform random
#       actions if the buffer held fewer than `learning_starts` steps when the
#       snapshot was taken; otherwise a sample of $\pi_{\theta_c}(\cdot \mid s_t, g)$
#       on the normalised input, replaced by a uniform action with probability
#       `random_eps`.
#    2. *Learn* (meanwhile, on the episodes of cycles $0, \dots, c - 1$ only;
#       skipped while they hold fewer than `learning_starts` steps): $U$ times,
#       1. draw $B$ transitions $(s_t, a_t, s_{t+1})$ uniformly from the stored
#          episodes; for the first $\lfloor\frac{k}{k+1}B\rfloor$, draw $j$ by
#          `goal_selection_strategy` (`future`: uniform on $\{t, \dots, T - 1\}$)
#          and substitute $g' = \phi(s_{j+1})$ of the same episode; the others keep
#          their episode's $g$;
#       2. recompute every reward with `compute_reward` from $\phi(s_{t+1})$ and
#          the transition's goal (§1.2);
#       3. normalise $s$ and $s'$, goals included, with the current
#          $(\mu, \sigma)$, each coordinate clipped at ±`obs_clip`;
#       4. critic: $y = r + \gamma(\min_i Q_{\bar\psi_i}(s', a', g) - \alpha \log \pi(a' \mid s', g))$
#          with $a'$ fresh and $g$ the transition's goal, clipped to
#          $[-1/(1 - \gamma), 0]$ if `target_clip` (no transition is terminal);
#          one Adam step (`learning_rate`) on both critics' squared error to $y$;
#       5. actor and temperature: one Adam step on $\alpha \log \pi - \min_i Q_{\psi_i}$,
#          read through the just-updated critics, and, if `ent_coef` is `auto`, on
#          $-\log\alpha\,(\log\pi + \bar{\mathcal{H}})$ with
#          $\bar{\mathcal{H}} = -\dim\mathcal{A}$ ($\alpha$ in both losses at its
#          value before the step);
#       6. Polyak update: $\bar\psi \leftarrow \beta \psi + (1 - \beta)\bar\psi$.
#    3. *Receive*: the cycle's $NET$ transitions enter the buffer as whole
#       episodes, and the observations the policy acted on update the running
#       mean and variance $(\mu, \sigma)$.
#    4. Take the snapshot $(\theta_{c+1}, \mu_{c+1}, \sigma_{c+1})$; every
#       `eval_every` steps evaluate the deterministic policy on fixed held-out
#       episodes, every `checkpoint_every` steps write a checkpoint.
#
# Against the paper's Algorithm 1 {cite:p}`andrychowicz2017her`, storing each
# transition with its own goal and with $k$ substitutes is replaced by relabelling
# a fraction $k/(k+1)$ as minibatches are drawn, which gives the same distribution
# (Problem 4.1). The cycles, `random_eps`, the normalised and clipped inputs and
# the clipped target follow the original code; its learner is DDPG, it trains on
# a cycle's episodes within the same cycle (no lag), and it updates its targets
# once per cycle rather than after every gradient step.
# :::

# %% [markdown]
# ### 3.1 Relabelling as pure functions
#
# `scripts/gcrl/rl/her.py` holds relabelling without state: `goal_indices(t, T,
# strategy, rng)` returns the index $j$ of §1.4 for each transition time,
# `relabel_episode(next_achieved_goals, strategy, k, rng, compute_reward)`
# returns $k$ substitute goals per transition and their recomputed rewards, and
# `her_ratio(k)` and `relabelled_count(B, k)` give the fraction and the number
# of relabelled transitions in a minibatch. `tests/test_her.py` checks them
# against Stable-Baselines3's `HerReplayBuffer`: for every $t$ the set of
# indices each strategy can draw (for `future`, $\{t, \dots, T-1\}$ inclusive),
# the recomputed rewards through `compute_reward`, and the ratio for
# $k \in \{0, 1, 4, 8\}$.
#
# Applied to random-action episodes, relabelling shows §1.2 in numbers: the
# fraction of transitions with reward 0, before and after substituting
# `future` goals with $k = 4$.

# %%
yield_rows = [ch04.relabelling_yield(env_id, episodes=max(4, budget.eval_episodes // 5), seed=20_000)
              for env_id in (ch04.REACH, ch04.PUSH)]
pd.DataFrame([{
    "task": task_name(r["env_id"]), "episodes": r["episodes"],
    "rewarded, real goals": f"{r['rewarded']}/{r['transitions']} = {r['rewarded_fraction']:.1%}",
    "rewarded, hindsight goals": f"{r['relabelled_rewarded']}/{r['relabelled_transitions']} "
                                 f"= {r['relabelled_rewarded_fraction']:.1%}",
} for r in yield_rows]).set_index("task")

# %% tags=["hide-input"]
for r in yield_rows:
    key = task_name(r["env_id"]).lower()
    glue(f"ch04_yield_{key}_real", f"{r['rewarded_fraction']:.1%}", display=False)
    glue(f"ch04_yield_{key}_her", f"{r['relabelled_rewarded_fraction']:.1%}", display=False)

# %% [markdown]
# On Reach, {glue:text}`ch04_yield_reach_real` of the real transitions are
# rewarded and {glue:text}`ch04_yield_reach_her` of the hindsight ones: a random
# gripper wanders, so a goal reached several steps later is often more than
# $\varepsilon$ away, but every $j = t$ draw and every nearby one is a success. On
# Push the proportions are {glue:text}`ch04_yield_push_real` and
# {glue:text}`ch04_yield_push_her`, for the reason §1.5 gives: random motion
# rarely moves the block, so the goal it "achieved" is where it already was.
#
# ### 3.2 The book's SAC+HER
#
# The book's SAC+HER is Stable-Baselines3's SAC with `HerReplayBuffer` and
# `VecNormalize`, written to be read and to run fast on a CPU. Its algorithm is one
# module, `scripts/gcrl/rl/sac_her/algorithm.py`: the networks, each loss as a
# function named as Chapter 3 names it, and one gradient step, `update()`, that
# composes them, with Chapter 3's equations beside the lines that compute them;
# the replay buffer and the normaliser are `replay.py`, every setting of a run is
# one typed dataclass in `config.py` (data: it trains nothing), and the cycles and
# checkpoints are `learner.py`, which the run procedure that every learner of the
# course shares (`scripts/gcrl/rl/run.py`: resumption, evaluation on the grid, the
# stop at the target, the final evaluation) drives. One gradient step is Chapter 3's
# derivation with the relabelled goal inside every term:
#
# | step | equation | where |
# |---|---|---|
# | draw $B$ transitions of complete episodes, relabel $\lfloor\frac{k}{k+1}B\rfloor$ of them, recompute $r$ | §1.2–1.4 | `EpisodeReplay.sample` |
# | $a \sim \pi_\theta(\cdot \mid s, g)$ by reparameterisation, with the tanh-corrected log-density | Ch. 3 §1.5 | `update()`: `agent.actor(obs)` |
# | $y = r + \gamma(\min_i Q_{\bar\psi_i}(s', a', g) - \alpha \log \pi(a' \mid s', g))$, $a'$ fresh | §1.3 | `critic_loss()` |
# | regress both critics on $y$ | Ch. 3 §1.4 | `critic_loss()`, `update()` step 1 |
# | actor loss $\alpha \log \pi - \min_i Q_{\psi_i}$ and temperature loss $-\log\alpha\,(\log\pi + \bar{\mathcal{H}})$ | Ch. 3 §1.5–1.6 | `actor_loss()`, `temperature_loss()`, `update()` step 2 |
# | Polyak update of the target critics | Ch. 3 §1.4 | `polyak()`, `update()` step 3 |
#
# It differs from the library in how it computes, not in what: the two
# critics are one batched network, the optimisers use fused kernels, the
# actor's and the temperature's losses share one backward pass (they have no
# parameter in common), and the actor reads the critic's weights detached
# instead of building their gradient. `tests/test_sac_her.py` checks the pieces
# against Stable-Baselines3: the squashed-Gaussian log-density, the running
# normalisation and its clipping, the twin critic against two separate
# networks, the direction of every temperature step, the clipped target, and
# exact resumption from a checkpoint.
#
# The cycles, `TrainingState.train` in `learner.py`, are the original HER code's schedule
# {cite:p}`andrychowicz2017her`: a run is a sequence of cycles. In cycle $c$ a
# collector (`collector.py`) steps $N$ environments in lockstep for $E$ complete
# episodes each, with a frozen snapshot $(\theta_c, \mu_c, \sigma_c)$ of the
# actor's weights and the normaliser's statistics, the $N$ actions of a step
# computed in one batched forward pass; meanwhile the learner takes $U$
# gradient steps on minibatches drawn from the episodes of cycles $0, \dots,
# c - 1$. Then the cycle's $NET$ transitions enter the buffer and the
# statistics, and the snapshot for cycle $c + 1$ is taken. Because every update
# reads only data of earlier cycles and every episode only an earlier snapshot,
# what is computed does not depend on which of the two finishes first: the
# collector can run in a process of its own, on the second core, and the run is
# still deterministic. `tests/test_collector.py` checks that a collector process
# returns exactly the episodes of a collector in the learner's process, that
# $N$ environments return exactly the episodes of $N$ single environments with
# seeds $w, w + 1, \dots, w + N - 1$ (each environment owns its reset, action and
# noise streams, and the batched forward pass runs on blocks of a fixed size,
# since a CPU matrix product may round a row differently when it has a
# different number of neighbours), and that a re-run gives the same parameters
# bit for bit. The price of the overlap is a lag: the policy that collects cycle
# $c$ has not yet learned from cycle $c - 1$. An asynchronous scheme, in which
# the collector picks up new weights whenever they are ready, would remove the
# lag's idle time and lose the determinism; the book does not offer it.

# %% tags=["hide-input"]
gpu = records.gpu_probe_reading()
for key, text in gpu.items():
    glue(f"ch04_gpu_{key}", text, display=False)

# %% [markdown]
# The same code runs on a GPU: `device: auto | cpu | cuda` (in the recipe, or
# `gcrl train --device`) puts the networks and the sampled minibatches on the
# device while the buffer, the relabelling and the collector's copy of the actor
# stay on the CPU, where the environments are. Requesting `cuda` where torch
# finds none is one error that names what it found.
#
# The networks can also be compiled: `compile_mode: default` has
# `torch.compile` trace the actor's and the critics' forward passes, and with
# them their backward passes, into generated kernels, and `reduce-overhead`
# also records them as CUDA graphs, replayed with one launch each, since
# launching many small kernels is what limits a GPU on minibatches this small;
# it is refused on a CPU. Compiled kernels may add in another order, so the
# mode is part of a run's configuration, like the device;
# `tests/test_sac_her.py` checks that three gradient steps with compiled
# networks land where three eager steps land. The book's runs use neither:
# the standard profile runs on CPUs.
#
# What a GPU buys was measured once, by `make bench-gpu` (`scripts/gpu_probe.py`)
# on {glue:text}`ch04_gpu_device`, its records kept in `book/reference/`
# (`gpu_probe_steps.json`, `gpu_probe_push.json`): {glue:text}`ch04_gpu_steps`.
# Against the recipe's size, {glue:text}`ch04_gpu_scaling` (which is what
# CUDA graphs are for); but {glue:text}`ch04_gpu_compiled`. With the
# update on the GPU, {glue:text}`ch04_gpu_push`, on
# {glue:text}`ch04_gpu_seed`. These are one machine's figures, not a result
# of the book.
#
# ```{note}
# `make bench` measures what this buys. On FetchReach it trains three recipes,
# one run at a time on the same machine: the library recipe (the peer); the
# book's code with the peer's hyperparameters, which isolates the
# implementation; and the book's recipe, which also starts its gradient updates
# after {glue:text}`ch04_bench_starts` environment steps instead of the recipe's
# {glue:text}`ch04_recipe_starts`. It evaluates every run every
# {glue:text}`ch04_bench_every` environment steps on {glue:text}`ch04_bench_episodes`
# fixed episodes and reports the environment steps and training seconds until
# {glue:text}`ch04_bench_threshold` success, the median ratios over seeds, and the
# milliseconds of each piece of a training step. Against its library peer,
# SB3's SAC with the task's entry of `hyperparams/sac.yml`, the chapter's Reach
# recipe differs in {glue:text}`ch04_library_reach`; Push's recipe, the search's
# winner (§3.4), differs from the library's Push entry in
# {glue:text}`ch04_library_push`. The benchmark is not part of
# the book run, so its numbers live in its own record
# (`_build/bench/bench_FetchReach-v4.json`).
# ```
#
# ### 3.3 Reach

# %%
reach = ch04.reach_variant(budget)
reach_rows = ch04.rows(trained, reach)
reach_pooled = experiments.pooled_by_env(reach_rows)[ch04.REACH]
reach_curve = experiments.pooled_curve(ch04.curves(trained, reach))
reach_steps = experiments.steps_to_threshold(reach_curve, ch04.THRESHOLD)
glue("ch04_reach", experiments.pooled_text(reach_pooled), display=False)
glue("ch04_reach_steps", f"{reach.env_steps:,}", display=False)
glue("ch04_reach_threshold_steps",
     f"first reached {ch04.THRESHOLD:.0%} pooled success after {reach_steps:,} env steps" if reach_steps
     else f"did not reach {ch04.THRESHOLD:.0%} pooled success within the budget", display=False)
experiments.runs_table(reach_rows)

# %% [markdown]
# After {glue:text}`ch04_reach_steps` environment steps, SAC+HER on sparse
# Reach succeeds in {glue:text}`ch04_reach`. The pooled curve
# {glue:text}`ch04_reach_threshold_steps`.
#
# ### 3.4 Push, with and without hindsight

# %%
push = ch04.push_variants(budget)
push_rows = {name: ch04.rows(trained, v) for name, v in push.items()}
push_pooled = {name: experiments.pooled_by_env(r)[ch04.PUSH] for name, r in push_rows.items()}
# paired: the two arms train on the same seeds and every run plays the same held-out episodes
gap = experiments.paired_pooled_difference(*(experiments.final_outcomes(ch04.curves(trained, push[name]))
                                              for name in ("HER", "no HER")))
glue("ch04_push_steps", f"{push['HER'].env_steps:,}", display=False)
push_run = trained[(push["HER"], session.seeds[0])]
glue("ch04_push_cost_seed", f"{session.seeds[0]}", display=False)
glue("ch04_push_cost", recipe.cost_text(push_run), display=False)
for key, text in recipe.recipe_origin(SacHerConfig.from_recipe(ch04.PUSH, total_steps=push["HER"].env_steps)).items():
    glue(f"ch04_{key}", text, display=False)
for name, key in (("HER", "her"), ("no HER", "noher")):
    glue(f"ch04_push_{key}", experiments.pooled_text(push_pooled[name]), display=False)
glue("ch04_push_gap", f"{gap['difference']:+.1%} (95% CI [{gap['ci95_low']:+.1%}, {gap['ci95_high']:+.1%}])",
     display=False)
runs_per_arm = (f"these {gap['seeds'][0]} training runs per arm" if gap["seeds"][0] == gap["seeds"][1] > 1 else
                "these training runs, one per arm," if gap["seeds"] == [1, 1] else
                f"these training runs ({gap['seeds'][0]} and {gap['seeds'][1]})")
glue("ch04_push_gap_verdict", f"the interval excludes zero for {runs_per_arm} on these held-out episodes"
     if gap["ci95_low"] > 0 or gap["ci95_high"] < 0 else
     f"the interval contains zero, so {runs_per_arm} on these held-out episodes do not separate the two arms",
     display=False)
for name, key in (("HER", "her"), ("no HER", "noher")):
    glue(f"ch04_push_{key}_verdict", experiments.against_floor(push_pooled[name], floor["random"]), display=False)
experiments.runs_table([{**r, "env_id": f"{r['env_id']} ({name})"} for name, rs in push_rows.items() for r in rs])

# %% [markdown]
# After {glue:text}`ch04_push_steps` environment steps, with hindsight:
# {glue:text}`ch04_push_her`, {glue:text}`ch04_push_her_verdict`; without:
# {glue:text}`ch04_push_noher`, {glue:text}`ch04_push_noher_verdict` (the rule of
# Chapter 2, §3.1). The difference, hindsight minus none, is
# {glue:text}`ch04_push_gap`: {glue:text}`ch04_push_gap_verdict`. The interval
# is a paired two-stage (cluster) bootstrap that resamples as the episodes were
# pooled {cite:p}`davison1997bootstrap`. Both arms ran the same seeds, recipe,
# evaluation episodes and number of gradient steps, and differ only in $k$, so
# their outcomes are paired twice: by training seed and by episode. Each
# replicate draws training seeds with replacement, a seed bringing both arms'
# runs, and then episodes with replacement within each drawn seed, the same
# episodes for both arms; the variation between seeds enters the interval as
# well as the variation between episodes, and what the two arms share cancels.
# {numref}`fig-ch04-curves` shows both learning curves.
#
# ```{warning}
# With {glue:text}`ch04_push_seeds` seed(s) per arm the seed stage has
# nothing to resample beyond the runs observed: the interval then speaks for
# these training runs and the held-out episodes, not for the method over seeds
# (Chapter 6 measures that on Reach).
# ```

# %%
fig = learning_curves({
    f"Reach (k={ch04.RECIPE_K})": {"SAC+HER": ch04.curves(trained, reach)},
    "Push": {"SAC+HER": ch04.curves(trained, push["HER"]), "SAC, no HER": ch04.curves(trained, push["no HER"])},
})
for ax in fig.axes[:1]:
    ax.axhline(ch04.THRESHOLD, color="k", ls=":", lw=1)
for ax in fig.axes[1:]:
    ax.axhline(floor["random"]["success_rate"], color="grey", ls="--", lw=1, label="random actions (Ch. 1)")
    ax.legend(fontsize=8, loc="upper left")
publish(fig, out / "learning_curves.png", "ch04_curves_fig")

# %% [markdown]
# ```{glue:figure} ch04_curves_fig
# :name: fig-ch04-curves
#
# Deterministic success against environment steps on fixed held-out episodes:
# one thin line per seed, the rate pooled over seeds thick, with its 95% Wilson
# band, which treats the pooled episodes as exchangeable. Left: SAC+HER on Reach
# ({glue:text}`ch04_seeds` seed(s), {glue:text}`ch04_eval_episodes` episodes per
# evaluation and seed), with the threshold dotted. Right: Push with and without
# hindsight ({glue:text}`ch04_push_seeds` seed(s) per arm,
# {glue:text}`ch04_push_eval_episodes` episodes per evaluation and seed), with
# Chapter 1's random-action floor dashed.
# ```
#
# **Where Push's recipe comes from.** Its schedule is the original HER code's
# {cite:p}`andrychowicz2017her` as the reimplementation of §3.6 runs it on
# {glue:text}`ch04_her_workers` workers {cite:p}`dai2019her`, gathered into one
# collector process: {glue:text}`ch04_recipe_schedule`. Three
# things differ. The learner is SAC, not DDPG. Its networks and minibatch are
# {glue:text}`ch04_recipe_size`, against the original's
# {glue:text}`ch04_her_size`; on a CPU a gradient step costs in proportion to
# the minibatch times the squared width, so the recipe's step costs
# {glue:text}`ch04_recipe_cost_ratio` of the original's. And exploration adds to
# SAC's own noise the original code's: a uniform random action with probability
# {glue:text}`ch04_recipe_random_eps` at every step, the temperature being held
# at {glue:text}`ch04_recipe_alpha` instead of learned.
# `scripts/push_recipe_search.py` names each of these choices as a change to the
# original schedule and trains it (`--list` prints them). What the recipe costs
# is read from the run itself: the
# hindsight run of seed {glue:text}`ch04_push_cost_seed` took
# {glue:text}`ch04_push_cost`.
#
# **What the search measured.** The search is recorded, with its provenance, in
# `book/reference/push_search.json`: {glue:text}`ch04_search_protocol`. Each
# candidate below is the original schedule with the changes listed; success is
# at the candidate's last evaluation, with its Wilson interval.

# %%
search = search_records.recipe_search()
search_table = pd.DataFrame(search["rows"]).drop(columns="curve").set_index("candidate")
search_table["95% CI"] = [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(search_table.ci95_low, search_table.ci95_high)]
search_table["steps to 50%"] = [f"{s['env_steps']:,}" if s else "not reached" for s in search_table.steps_to_50]
search_table[["changes", "env_steps", "success_rate", "95% CI", "steps to 50%", "env_steps_per_s", "updates_per_s"]]

# %% tags=["hide-input"]
glue("ch04_search_protocol", search_records.search_protocol(search), display=False)
for key, line in search_records.search_reading(search).items():
    glue(f"ch04_search_{key}", line, display=False)
glue("ch04_search_not_run", ", ".join(f"`{n}`" for n in search["not_run"]) or "none", display=False)
timed = all(r["throughput_alone"] for r in search["rows"])
glue("ch04_search_throughput", "the throughputs come from timing each candidate afresh with nothing else running"
     if timed else "the throughputs come from the search runs themselves, on a machine that was not kept idle, and "
     "are approximate", display=False)

# %% [markdown]
# Against the recipe, each candidate that lacks some of its changes measures
# those changes, at the same budget and on the same seed:
# {glue:text}`ch04_search_choice0`. And {glue:text}`ch04_search_choice1`. The
# recipe's other changes from the original schedule, {glue:text}`ch04_search_unablated`,
# were never removed in a trained candidate, so the record says nothing about
# what they bought. Two runs of a comparison are evaluated on the same held-out
# episodes, so their outcomes are paired, and the interval of their difference
# is Newcombe's for paired proportions {cite:p}`newcombe1998paired`, which
# narrows as the two runs agree episode by episode. The record keeps each
# evaluation's count of successes but not which episodes succeeded, so each
# comparison gives the paired interval at the two extremes the counts allow,
# and calls the runs separated, or not, only where both extremes agree. Every
# comparison rests on one run per arm: it speaks for these runs, not for the
# settings over seeds. Success depends on env steps only (each run is
# deterministic given its seed), not on what else the machine did meanwhile;
# {glue:text}`ch04_search_throughput`. The candidates the script
# defines but this record did not train, {glue:text}`ch04_search_not_run`, were
# left out for time; `python scripts/push_recipe_search.py NAME` trains any of
# them and adds it to the record.
#
# **The same recipe on seeds that chose nothing.** Every figure above comes
# from seed 0, the seed that chose the recipe, and seed 0's curve also set the
# standard budget and the declared ranges: they are in-sample. The book now
# keeps its seeds in two sets (`gcrl.core.seeds`): *selection* seeds (0 to 99),
# the only ones a search, a budget or a range may look at, and *reporting*
# seeds (from 1,000), the only ones whose numbers it prints; every chapter
# starts from seed 1,000. `scripts/push_reporting_runs.py` trains the standard
# chapter's hindsight run, {glue:text}`ch04_reporting_budget` env steps of the
# recipe, on reporting seeds; its record is
# `book/reference/push_recipe_reporting.json`. In-sample,
# {glue:text}`ch04_reporting_in_sample`. On the reporting seeds:
# {glue:text}`ch04_reporting_per_seed`. So {glue:text}`ch04_reporting_reached`
# reporting seeds reached 90% within the budget, and
# {glue:text}`ch04_reporting_moved`.
#
# **A second round, for fewer samples.** DDPG+HER with the recipe of mrl, the
# library of {cite:t}`pitis2020mrl`, reaches 90% on Push in
# {glue:text}`ch04_reporting_anchor` (its repository's benchmark, three
# seeds). The second round of the search
# (`push_recipe_search.py --round samples`) starts from today's recipe and
# changes one thing at a time, or a few that help together: layer-normalised
# critics (`critic_layer_norm`, as mrl's), half of the relabelled goals
# actually commanded (`actual_goal_fraction`, §1.4), the original HER code's
# action penalty (`action_l2`: its weight times the mean squared action joins
# the actor's loss, which then gives up a little value for smaller actions),
# and more updates per env step, with narrower networks where
# that keeps the compute per step below the recipe's. It runs on selection
# seeds only; its record is `book/reference/push_search_samples.json`:
# {glue:text}`ch04_samples_protocol`. Within that budget,
# {glue:text}`ch04_samples_reached`. Against today's recipe at the last
# evaluation both reached: {glue:text}`ch04_samples_bought` (paired two-stage
# bootstrap over seeds and episodes, a candidate and the control sharing both;
# each line gives its seeds per arm, and with
# one it speaks for these runs only).

# %% tags=["hide-input"]
for key, text in search_records.reporting_reading().items():
    glue(f"ch04_reporting_{key}", text, display=False)
samples = search_records.samples_search()
for key, text in search_records.samples_reading(samples).items():
    glue(f"ch04_samples_{key}", text, display=False)
pd.DataFrame(samples["rows"]).set_index(["candidate", "seed"])

# %% [markdown]
#
# ### 3.5 Ablation: how many substitute goals, and which

# %%
ablation = ch04.ablation_rows(trained, budget)
table = pd.DataFrame(ablation)
table["95% CI"] = [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(table.ci95_low, table.ci95_high)]
table["steps to threshold"] = [f"{s:,}" if s else "not reached" for s in table.steps_to_threshold]
table = table.rename(columns={"relabelled_fraction": "relabelled", "success_rate": "final p̂",
                              "mean_success_over_curve": "mean p̂ over curve"})
table.set_index("variant")[["relabelled", "episodes", "final p̂", "95% CI", "steps to threshold",
                            "mean p̂ over curve"]].round(3)

# %%
for key, text in ch04.ablation_reading(ablation).items():
    glue(f"ch04_ablation_{key}", text, display=False)

# %%
fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2), sharey=True)
colours = dict(zip(ch04.ablation_variants(budget), ("C3", "C1", "C0", "C2", "C4", "C5")))  # one per variant
for ax, group in zip(axes, ("k", "strategy")):
    chosen = [v for v in ch04.ablation_variants(budget)
              if (group == "k" and v.strategy == ch04.RECIPE_STRATEGY)
              or (group == "strategy" and v.n_sampled_goal == ch04.RECIPE_K)]
    for variant in chosen:
        colour = colours[variant]
        pooled = experiments.pooled_curve(ch04.curves(trained, variant))
        steps = [p["env_steps"] for p in pooled]
        ax.plot(steps, [p["success_rate"] for p in pooled], color=colour, lw=2, label=variant.label)
        ax.fill_between(steps, [p["ci95_low"] for p in pooled], [p["ci95_high"] for p in pooled],
                        color=colour, alpha=0.12)
    ax.set_title(f"{task_name(budget.ablation_env_id)}: " + ("number of goals k (future)" if group == "k"
                                                             else f"strategy (k={ch04.RECIPE_K})"))
    steps_axis(ax)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, loc="lower right")
axes[0].set_ylabel("success rate (pooled)")
fig.tight_layout()
publish(fig, out / "ablation.png", "ch04_ablation_fig")

# %% [markdown]
# ```{glue:figure} ch04_ablation_fig
# :name: fig-ch04-ablation
#
# Deterministic success on {glue:text}`ch04_ablation_task` against environment
# steps, pooled over {glue:text}`ch04_seeds` seed(s) of {glue:text}`ch04_eval_episodes`
# fixed episodes each per evaluation; bands: 95% Wilson intervals of the pooled
# rate. Left: $k$ with the `future` strategy ($k = 0$ is no hindsight). Right:
# the three strategies with $k$ = {glue:text}`ch04_recipe_k`.
# ```
#
# {numref}`fig-ch04-ablation` and the table read against §1.4, with the mean
# success over the curve as the measure of how early a variant learns. Without
# hindsight ($k = 0$) the critic sees a rewarded transition only when exploration
# reached the goal by itself: {glue:text}`ch04_ablation_k0`.
# {glue:text}`ch04_ablation_k1` {glue:text}`ch04_ablation_k8` Among the
# strategies, `final` offers one goal per episode and `episode` offers goals
# that may lie in the past: {glue:text}`ch04_ablation_strategies`.
#
# ### 3.6 The long runs (full profile)

# %%
long_rows = []
for variant in ch04.long_variants(budget):
    results_ = [r for (v, _), r in trained.items() if v == variant]
    pooled = experiments.pooled_by_env(experiments.summary_rows({(variant.env_id, r.config.seed): r for r in results_}))
    target = ch04.LONG_TARGETS[variant.env_id]
    long_rows.append({"env_id": variant.env_id, "algorithm": variant.algo, "env_steps": variant.env_steps,
                      "target": target, **pooled[variant.env_id],
                      "met": pooled[variant.env_id]["success_rate"] >= target})
glue("ch04_long", (f"{len(long_rows)} long runs were trained under this profile." if long_rows else
                   "The long runs belong to the full profile and were not trained under this one."), display=False)
full_budget = profiles.budget("ch04", "full")
glue("ch04_long_plan", ", ".join(f"on {task_name(e)} for {n:,} environment steps"
                                 for e, n in full_budget.long_env_steps.items())
     + f", {full_budget.long_seeds} seeds each", display=False)
glue("ch04_long_targets", ", ".join(f"at least {t:.0%} success on {task_name(e)}" for e, t in ch04.LONG_TARGETS.items()),
     display=False)
pd.DataFrame(long_rows).set_index(["env_id", "algorithm"]).round(3) if long_rows else Markdown("*(none under this profile)*")

# %% [markdown]
# {glue:text}`ch04_long` The full profile trains SAC+HER and TQC+HER
# {glue:text}`ch04_long_plan`, and declares as its targets {glue:text}`ch04_long_targets`.
# For scale: rl-baselines3-zoo's TQC+HER recipe for Push reaches 90% training
# success after about $2 \times 10^5$ environment steps in its published training
# logs {cite:p}`raffin2020zoo`, and a widely used PyTorch reimplementation of
# DDPG+HER {cite:p}`dai2019her`, run on eight parallel workers, needs about
# $6 \times 10^5$.
#
# **The zoo's recipe and the book's on one machine.** Published step counts
# say nothing about what a reader's machine does with them in an hour.
# `make bench` therefore also trains {glue:text}`ch04_bench_zoo_recipe`
# (sb3-contrib's `TQC` with SB3's hindsight buffer, {glue:text}`ch04_bench_zoo_size`,
# one gradient step per environment step) and the book's Push recipe, one after
# the other from scratch, each for the same wall-clock budget, and records both
# learning curves against training time and against environment steps. The
# record kept with the book, `book/reference/bench_FetchPush-v4.json`, was made
# with {glue:text}`ch04_bench_protocol`.

# %%
push_bench = records.push_bench()
glue("ch04_bench_protocol", push_bench["protocol"], display=False)
glue("ch04_bench_reading", push_bench["reading"], display=False)
steady = records.zoo_steady_rate(push_bench["record"])
glue("ch04_bench_zoo_segment", f"{steady['from_steps']:,} and {steady['to_steps']:,}", display=False)
glue("ch04_bench_zoo_rate", f"{steady['env_steps_per_s']:.2f}", display=False)
glue("ch04_bench_zoo_average", f"{steady['average_env_steps_per_s']:.2f}", display=False)
glue("ch04_bench_zoo_hours", f"{steady['hours']:.0f}", display=False)
glue("ch04_bench_zoo_published", f"{records.ZOO_PUSH_STEPS:,}", display=False)
glue("ch04_bench_zoo_recipe", records.zoo_additions(push_bench["record"]), display=False)
zoo_config = push_bench["record"]["recipes"]["zoo"]["config"]
at_reset = ch04.solved_at_reset(ch04.PUSH, evaluation_seeds(zoo_config["eval_episodes"], zoo_config["eval_seed"]))
glue("ch04_bench_zoo_floor", records.zoo_floor(push_bench["record"], at_reset), display=False)
zoo_hyper = zoo_config["hyperparams"]
glue("ch04_bench_zoo_size", f"{len(zoo_hyper['policy_kwargs']['net_arch'])}×"
     f"{zoo_hyper['policy_kwargs']['net_arch'][0]} networks and minibatches of {zoo_hyper['batch_size']:,}",
     display=False)
book_bench = push_bench["record"]["recipes"]["book"]["config"]
glue("ch04_bench_book_batch", f"{book_bench['batch_size']:,}", display=False)
cycle_steps = book_bench["n_envs"] * book_bench["episodes_per_cycle"] * episode_length(ch04.PUSH)
glue("ch04_bench_steps_per_update", f"{cycle_steps / book_bench['updates_per_cycle']:g}", display=False)
publish(bench_push.draw(push_bench["record"]), out / "push_bench.png", "ch04_bench_fig")
pd.DataFrame(push_bench["rows"]).set_index("recipe")

# %% [markdown]
# ```{glue:figure} ch04_bench_fig
# :name: fig-ch04-bench
#
# Deterministic success on fixed held-out episodes of FetchPush, the zoo's
# TQC+HER recipe against the book's SAC+HER recipe, each trained from scratch
# for the same wall clock on the same machine, one after the other
# (`book/reference/bench_FetchPush-v4.json`). Left: against training minutes
# (evaluation excluded); right: against environment steps, on a log scale.
# ```
#
# In that record {glue:text}`ch04_bench_reading`. The budget, not the
# recipe's own schedule, ends each run, so a recipe that has not reached a level
# by then is reported as not reaching it, not as unable to; here
# {glue:text}`ch04_bench_zoo_floor`.
# Between its evaluations at {glue:text}`ch04_bench_zoo_segment` env steps, where
# every env step took a gradient step, the zoo's recipe ran
# {glue:text}`ch04_bench_zoo_rate` env steps per second of training (its average
# over the whole run, {glue:text}`ch04_bench_zoo_average`, also counts the warm-up
# steps that take none); at that rate the {glue:text}`ch04_bench_zoo_published`
# steps after which the zoo's published logs reach 90% would take about
# {glue:text}`ch04_bench_zoo_hours` hours of training on these cores. In
# {numref}`fig-ch04-bench` the right panel compares what each recipe does with
# an environment step, the left what it does with a minute: the zoo's recipe
# takes one gradient step of a large minibatch per environment step, the book's
# one step of a minibatch of {glue:text}`ch04_bench_book_batch` per
# {glue:text}`ch04_bench_steps_per_update` environment steps. `make bench`
# repeats the measurement on the reader's machine (`PUSH_MIN` sets the budget)
# and writes its record to `_build/bench/`.
#
# ### 3.7 The trained policies

# %%
videos = {}
for env_id, variant in ((ch04.REACH, reach), (ch04.PUSH, push["HER"])):
    best = max((r for (v, _), r in trained.items() if v == variant), key=lambda r: r.metrics["best_success_rate"])
    video_seeds = [40_000 + i for i in range(budget.video_episodes)]
    frames, reached = video.record_episodes(env_id, best.policy(), video_seeds, size=320)
    name = f"her_fetch{task_name(env_id).lower()}.mp4"
    videos[name] = {"seed": best.config.seed, "episodes": video_seeds, "successes": int(sum(reached))}
    display(video.video_html(video.write_mp4(frames, out / name, fps=video.control_fps(env_id)),
                             caption=f"SAC+HER on {env_id}, training seed {best.config.seed}, "
                                     f"episodes {video_seeds}: {sum(reached)} of {len(reached)} reached the goal."))

# %% [markdown]
# The recordings use episode seeds that neither training nor evaluation used.
#
# ## 4. Verification and Sanity Checks
#
# First, every run used its budget and its evaluation episodes, the two Push
# arms differ only in $k$, and with $k = 0$ the buffer relabels none of a
# minibatch's transitions.

# %%
for (variant, s), result in trained.items():
    m = result.metrics
    assert m["env_steps"] == variant.env_steps, (variant.name, s, m["env_steps"])
    assert m["final"]["episodes"] == result.config.eval_episodes
    assert m["final"]["ci95_low"] <= m["final"]["success_rate"] <= m["final"]["ci95_high"]
    assert [row["env_steps"] for row in result.curve] == sorted(row["env_steps"] for row in result.curve)
her_config, plain_config = (runs_plan[(push[name], session.seeds[0])] for name in ("HER", "no HER"))
differences = {k for k, v in her_config.as_dict().items() if plain_config.as_dict()[k] != v}
assert differences == {"n_sampled_goal"}, differences
assert her.relabelled_count(plain_config.batch_size, plain_config.n_sampled_goal) == 0
"budgets, evaluation and the Push comparison hold"

# %% [markdown]
# Second, relabelling as the buffer performs it: on episodes stored by a fresh
# run of the Reach recipe, the relabelled fraction of a minibatch is $\lfloor \frac{k}{k+1}B \rfloor$,
# every relabelled goal is an achieved goal of the same episode at or after the
# transition (`future`), and every reward equals `compute_reward` of the next
# achieved goal and the new goal.

# %%
reach_config = runs_plan[(reach, session.seeds[0])]
# three cycles, as a run collects them, without gradient steps; a minibatch drawn from them as training draws it
probe = ch04.relabelling_probe(reach_config, ch04.RECIPE_K, "future")
obs, next_obs, rewards, virtual = probe["obs"], probe["next_obs"], probe["rewards"], probe["relabelled"]
assert np.array_equal(rewards, probe["recomputed"])
stored = probe["observation"]
for i in range(len(rewards)):
    # locate the transition by its observation and next observation (every episode starts in the same state)
    here = np.all(stored[:, :-1] == obs["observation"][i], axis=2) & np.all(stored[:, 1:] == next_obs["observation"][i], axis=2)
    episode, t = (int(x[0]) for x in np.nonzero(here))
    later = probe["achieved_goal"][episode, t + 1:]  # the goals achieved after transitions t, ..., T - 1
    if i < virtual:
        assert np.all(later == obs["desired_goal"][i], axis=1).any(), ("relabelled goal not from the future", i)
    else:
        assert np.array_equal(obs["desired_goal"][i], probe["desired_goal"][episode]), ("real goal changed", i)
real_success = float((rewards[virtual:] == 0).mean())
hindsight_success = float((rewards[:virtual] == 0).mean())
glue("ch04_probe", f"{hindsight_success:.0%} of the {virtual} relabelled transitions are rewarded, against "
                   f"{real_success:.0%} of the {512 - virtual} real ones", display=False)
glue("ch04_probe_episodes", f"{probe['episodes']} episodes of random actions"
     if probe["steps"] <= reach_config.learning_starts else
     f"{probe['episodes']} episodes, their first {reach_config.learning_starts} steps with random actions and "
     f"the rest with the untrained policy", display=False)
"relabelling checks hold"

# %% [markdown]
# In that probe minibatch, drawn from {glue:text}`ch04_probe_episodes`,
# {glue:text}`ch04_probe`.
#
# Third, the outcomes the profile declares (also checked by the deliverable
# declarations): under the standard profile every Reach seed ends at or above
# the threshold, and the ablation's $k = 0$ arm relabels nothing.

# %%
if profile != "smoke":
    low = [r for r in reach_rows if r["success_rate"] < ch04.THRESHOLD]
    assert not low, f"Reach runs below {ch04.THRESHOLD:.0%}: {low}"
assert ablation[0]["n_sampled_goal"] == 0 and ablation[0]["relabelled_fraction"] == 0
for r in yield_rows:
    assert r["relabelled_rewarded_fraction"] > r["rewarded_fraction"], ("relabelling must add successes", r)
"declared outcomes hold"

# %% [markdown]
# ## 5. Deliverables

# %%
write_deliverable(out, "her_results.json", {
    "budget": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(budget).items()},
    "threshold": ch04.THRESHOLD,
    "relabelling_yield": yield_rows,
    "reach": {"runs": reach_rows, "pooled": reach_pooled, "steps_to_threshold": reach_steps,
              "min_final_success": min(r["success_rate"] for r in reach_rows)},
    "push": {"runs": push_rows, "pooled": push_pooled, "difference": gap},
    "ablation": {"env_id": budget.ablation_env_id, "rows": ablation},
    "long_runs": long_rows,
    "videos": videos,
    "configs": {f"{v.name}-seed{s}": c.as_dict() for (v, s), c in runs_plan.items()},
    "policies": {reach.env_id: ch04.policy_index(trained, reach, out),
                 push["HER"].env_id: ch04.policy_index(trained, push["HER"], out)},
    "curves": {f"{v.name}-seed{s}": r.curve for (v, s), r in trained.items()},
}, run)
glue("ch04_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch04_profile", profile, display=False)
verified_table(results, profile, "ch04")

# %% [markdown]
# Under the {glue:text}`ch04_profile` profile the whole chapter took
# {glue:text}`ch04_wall_s` s from its first cell to its last. Each run's
# checkpoint (agent, optimiser states, normalisation statistics, replay buffer
# and random states, from which an interrupted run resumes exactly), learning
# curve and `metrics.json` are kept under `runs/` in the chapter's results
# folder.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - The goal does not enter the dynamics and the reward is a known function of
#   $(\phi(s'), g)$, so a stored transition is a transition of the task with any
#   goal $g'$ once $r'$ is recomputed; SAC's off-policy target makes it a valid
#   sample of the soft Bellman backup for a $g'$ chosen independently of the
#   outcome (the next point qualifies it), which PPO cannot use without
#   importance weights (§1.2–1.3).
# - The substitution is exact only insofar as the observation determines the next
#   achieved goal: `final`, `future` and `episode` choose $g'$ from the outcome,
#   and the weight $1/(k+1)$ on real goals is what keeps the test-time goals in
#   the objective (§1.3).
# - Relabelling $\lfloor \tfrac{k}{k+1} B \rfloor$ transitions of each minibatch as it
#   is drawn gives the distribution of storing $k$ substitutes per transition
#   (§1.4, Problem 4.1).
# - Hindsight does not make Push easy; it makes every push a success for some
#   goal. On Push, hindsight minus none is {glue:text}`ch04_push_gap`:
#   {glue:text}`ch04_push_gap_verdict` (§3.4).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - SAC without hindsight on Push: {glue:text}`ch04_push_noher`,
#   {glue:text}`ch04_push_noher_verdict` (§3.4); Chapter 3's SAC without
#   hindsight on Push was {glue:text}`ch04_ch3_verdict` (§1.1).
# - The ablation's $k = 0$ arm, which sees a rewarded transition only when
#   exploration reaches the goal by itself: {glue:text}`ch04_ablation_k0` (§3.5).
# - Hindsight successes that mostly teach leaving the block alone: on random-action Push
#   episodes {glue:text}`ch04_yield_push_her` of the hindsight transitions are
#   rewarded, against {glue:text}`ch04_yield_reach_her` on Reach: random motion
#   rarely moves the block, so the goal it "achieved" is where it already was
#   (§3.1).
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch04.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch04` (or
# `make check CHAPTER=ch04`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 4.1 (derivation): the relabelled fraction.** The HER paper stores
# each real transition once with its own goal and $k$ more times with substitute
# goals. Show that a transition drawn uniformly from such a buffer carries a
# substitute with probability $k/(k+1)$, that sampling a transition and then
# relabelling it with that probability gives the same distribution (which is what
# the book's buffer does, §1.4), and write `relabelled_fraction(k)`.
#
# :::{dropdown} Solution
# Each real transition contributes $k + 1$ stored copies, $k$ of them relabelled,
# and every transition contributes equally, so a uniform draw is relabelled with
# probability $k/(k+1)$, and given that it is, its substitute is a uniform draw
# from the strategy's distribution. Drawing a real transition uniformly and then
# relabelling it with probability $k/(k+1)$ (goal drawn afresh) gives that same
# joint distribution without storing the copies. For $k = 4$, 80% of a minibatch
# is relabelled.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch04.py
# :language: python
# :pyobject: relabelled_fraction
# ```
# :::
#
# **Problem 4.2 (implementation): the `future` strategy.** For transitions at
# times $t$ of an episode of horizon $T$, write `future_goal_indices(t, horizon,
# rng)`: indices $j$ drawn uniformly from $\{t, \dots, T - 1\}$, the substitute
# goal being `next_achieved_goals[j]`, the achieved goal after transition $j$.
# Why must $j = t$ be allowed?
#
# :::{dropdown} Solution
# `rng.integers(t, horizon)` draws each $j$ uniformly from $[t, T)$, vectorised
# over $t$. The index $j = t$ is the state transition $t$ itself reached: relabelled
# with it, the transition is rewarded by construction, which is where the
# algorithm's first successes come from (§1.2); excluding it removes the one draw
# that is always rewarded. Drawing from the whole episode instead is the `episode`
# strategy, whose effect the ablation of §3.5 measures; excluding $j = t$ alone is
# not one of its variants.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch04.py
# :language: python
# :pyobject: future_goal_indices
# ```
# :::
#
# **Problem 4.3 (implementation): relabelled goals and their rewards.** Write
# `relabel(next_achieved_goals, t, j, threshold=0.05)` returning the substitute
# goals $g' = \phi(s_{j+1})$ (row $j$ of `next_achieved_goals`) and the rewards
# $r' = -\mathbb{1}[\lVert \phi(s_{t+1}) - g' \rVert > \varepsilon]$ they give
# transitions $t$ (§1.2). Why is the reward recomputed from the *next* achieved goal of transition $t$,
# not from the goal of its starting state?
#
# :::{dropdown} Solution
# The reward of a transition is a function of the state it reached and of the
# goal, $r_t = R(\phi(s_{t+1}), g)$, with $\phi(s_{t+1})$ the row
# `next_achieved_goals[t]`. Relabelling substitutes $g$ only, so the reward is
# recomputed at the same reached state; pure, vectorised `compute_reward` is what
# makes this a single call per minibatch (Chapter 1, §1.2). The check compares
# your rewards with FetchPush's own `compute_reward` through the course's
# `relabel_episode`.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch04.py
# :language: python
# :pyobject: relabel
# ```
# :::
#
# **Problem 4.4 (diagnosis): `future` goals from a flat buffer of episodes.**
# A replay buffer stores whole episodes of $T$ transitions one after the other in
# one flat array. The stub's `sample_future_goals` is meant to draw, for the
# transition at flat index $i$ and step $t$ of its episode, a `future` goal: the
# goal achieved after a step $j$ drawn uniformly from $\{t, \dots, T - 1\}$ of the
# same episode (§1.4). It offsets the flat index instead. Run the check, read the
# symptom, repair it.
#
# :::{dropdown} Solution
# The stub adds an offset drawn uniformly from $\{0, \dots, T - 1\}$ to the flat
# index. Two defects follow, and the check measures both. For the last episode's
# transitions the index runs past the end of the buffer. For the others, a
# transition at step $t$ reads past its episode's end with probability $t/T$, and
# then takes an achieved goal of the *next* episode, so its goals are no longer
# `future` draws: they are not uniform over this episode's remaining steps, and
# the share of them that leave the episode grows with $t$. Those goals do not
# make false transitions: each reward is recomputed from the transition's own
# next achieved goal, so $(s_t, a_t, r', s_{t+1}, g')$ is a correct transition for
# $g'$ (§1.2); goals achieved anywhere in the buffer are what HER's `random`
# strategy substitutes {cite:p}`andrychowicz2017her`, and, chosen without looking
# at this transition's outcome, they even escape §1.3's bias. What the stub breaks is
# the strategy it claims: it mixes in goals by where an episode happens to sit
# in the array, with a weight that depends on $t$, and it crashes at the buffer's
# end. The future index must be drawn uniformly in
# $[i, \text{start}(i) + T)$, within the transition's own episode.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch04.py
# :language: python
# :pyobject: sample_future_goals
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch04.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch04")
