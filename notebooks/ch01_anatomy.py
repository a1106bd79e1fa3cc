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
# # Chapter 1 — The anatomy of goal-conditioned Fetch environments

# %% tags=["parameters", "remove-cell"]
# Parameters: papermill overrides these, and they are all the runner tells a chapter. Empty means, as
# in JupyterLab: the profile from $GCRL_PROFILE (else the default of gcrl.course.profiles), the results
# folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 1000  # the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones
results_root = ""
inputs_digest = "interactive"  # the runner's digest of the chapter's inputs: the key of its resumable training runs

# %% tags=["remove-input"]
import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from jsonschema import Draft202012Validator
from myst_nb import glue

from gcrl.analysis.plots import publish
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch01_rollouts
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl.envs import FETCH_ENV_IDS, task_name
from gcrl.rl.evaluate import wilson_interval

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch01", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
backend = session.rendering
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# Before an agent is trained we must know exactly what it observes, what it may
# do, and how it is scored. This chapter takes the eight Fetch v4 environments
# apart and records the result in forms that can be checked by machine. For each
# environment we give a JSON Schema of the observation dictionary that labels
# every dimension, and we validate it against observations from real rollouts.
# We verify, on every transition of the random-policy rollouts, the reward
# identities on which every later chapter relies, including the one that makes hindsight
# relabelling legitimate. Finally we measure two {term}`floors <floor>`, the random and the
# zero-action policy, which every learned policy must clear. Each rate is
# reported with a confidence interval.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 The goal-conditioned decision process
#
# A Fetch task is a goal-conditioned Markov decision process (see
# {doc}`../notation`). An episode draws an initial state $s_0 \sim \rho_0$ and a
# goal $g \sim p_g$ in $\mathcal{G} \subseteq \mathbb{R}^3$, then runs for
# $T = 50$ control steps. The *achieved-goal map*
# $\phi : \mathcal{S} \to \mathcal{G}$ extracts from the state the quantity that
# the goal constrains: the position of the grip site for Reach, and the position
# of the object for Push, PickAndPlace and Slide. With
# $d(x, y) = \lVert x - y \rVert_2$ and a threshold $\varepsilon$, the rewards are
#
# $$
# r(s_{t+1}, g) = -\mathbf{1}\!\left[ d(\phi(s_{t+1}), g) > \varepsilon \right],
# \qquad
# r_{\text{dense}}(s_{t+1}, g) = -\,d(\phi(s_{t+1}), g),
# $$
#
# and success at step $t$ is the event $d(\phi(s_{t+1}), g) < \varepsilon$. Two
# structural facts carry the rest of the course.
#
# 1. **The goal does not enter the dynamics.** $P(s_{t+1} \mid s_t, a_t)$ is the
#    same whatever $g$ is; the goal only appears in the observation and the reward.
# 2. **The reward is a known function of $(\phi(s_{t+1}), g)$.** Nothing else is
#    needed to compute it: not the action, not the history, not the simulator.
#
# ### 1.2 Why `compute_reward` must be pure and vectorised
#
# Take a stored transition $(s_t, a_t, s_{t+1}, g)$ and any other goal $g'$. By
# fact 1, $s_{t+1}$ is distributed exactly as it would have been had the agent
# been pursuing $g'$. By fact 2, the reward it would then have received is
# $r(s_{t+1}, g')$, which we can compute. Hence
# $(s_t, a_t, r(s_{t+1}, g'), s_{t+1}, g')$ is a genuine transition of the same
# process, although it was never experienced. This is the *relabelling* on
# which Hindsight Experience Replay rests {cite:p}`andrychowicz2017her`.
#
# :::{admonition} A caveat this argument does not remove
# :class: warning
#
# The argument is about one transition and a goal $g'$ fixed *before* its
# outcome is seen. Hindsight chooses $g'$ from the states the same episode
# visited after $s_{t+1}$, so $g'$ depends on the realised outcome. Each
# relabelled transition is still a possible transition of the process, but the
# collection of them is not a sample of it: under stochastic dynamics it
# over-represents outcomes that went towards the chosen goal, and even under
# deterministic dynamics it shifts the distribution of goals the learner trains
# on. Chapter 4, §1.3 derives both consequences.
# :::
#
# The argument holds only if the reward that was issued during the episode and
# the reward recomputed afterwards are *the same function*. That function must
# depend on $(\phi(s_{t+1}), g)$ alone. If it read hidden state (a counter, the
# simulator, the `info` dictionary of the original step), a relabelled reward
# could differ from what the environment would really have emitted, and learning
# would follow a reward that does not exist. It must also accept batches: a
# learner relabels whole minibatches of hundreds of transitions at every gradient
# step, and it calls `compute_reward` on arrays of shape $(B, 3)$.
# Gymnasium-Robotics exposes exactly this function. §3.4 checks on real
# transitions that it is pure, that it agrees with what `step` returned, and
# that its batched and per-sample calls agree.
#
# ### 1.3 Time: control period, horizon and truncation
#
# One call of `step` applies the action for $n$ MuJoCo substeps of duration
# $\delta$, so the control period is $\Delta = n\,\delta$. The episode is *cut
# off* after $T$ steps. This is a truncation, not a termination: the task has
# not ended, and the state at step $T$ is an ordinary state from which the
# future would have continued. For a value function that does not observe time,
# the Bellman target at the last step must therefore bootstrap:
#
# $$
# y_{T-1} = r_{T} + \gamma\, V(s_T, g) \quad\text{and not}\quad y_{T-1} = r_T .
# $$
#
# Treating the time limit as termination would teach the critic that the same
# $(s, g)$ is worth $r$ at step $T-1$ and $r + \gamma V$ at step $T-2$. The
# target would then depend on a variable the critic cannot see. Gymnasium
# separates the two signals (`terminated`, `truncated`), and a Fetch episode only
# ever truncates; §3.4 checks this on every episode. Under the {term}`sparse reward`,
# values lie in $[-\tfrac{1 - \gamma^{T}}{1-\gamma}, 0]$ over a finite horizon, or
# in $[-\tfrac{1}{1-\gamma}, 0]$ when bootstrapping treats the horizon as
# infinite.
#
# ### 1.4 Success and reward disagree on a set of measure zero
#
# The sparse reward calls a step successful when $d \le \varepsilon$, while
# `info["is_success"]` requires $d < \varepsilon$. The two disagree exactly when
# $d = \varepsilon$. For continuous states this event has probability zero, but it
# is not impossible in floating point. We therefore count disagreements and
# require every one of them to sit exactly at the threshold.
#
# ### 1.5 Floors, and how to state them
#
# A success rate $\hat p = x/n$, from $x$ successes in $n$ independent episodes,
# estimates a probability $p$. We report it with the 95% {term}`Wilson interval`
# {cite:p}`wilson1927probable`
#
# $$
# \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}},
# \qquad z = 1.96 .
# $$
#
# The familiar Wald interval $\hat p \pm z\sqrt{\hat p(1 - \hat p)/n}$ collapses
# to the single point $\{0\}$ when $x = 0$, and $x = 0$ is what a random policy
# can produce on the harder tasks. The Wilson interval stays honest there: with
# $x = 0$ its upper end is exactly $z^2/(n + z^2)$, so zero successes in
# {glue:text}`ch01_n` episodes, the number this profile runs, still allow a true
# rate of up to {glue:text}`ch01_wilson_zero`.

# %% tags=["hide-input"]
glue("ch01_n", f"{budget.episodes_per_policy:,}", display=False)
zero_high = wilson_interval(0, budget.episodes_per_policy)[1]
glue("ch01_wilson_zero", f"{zero_high:.1%}", display=False)

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - the sparse and dense rewards, with $d(x, y) = \lVert x - y \rVert_2$:
#   $r(s_{t+1}, g) = -\mathbf{1}\!\left[ d(\phi(s_{t+1}), g) > \varepsilon \right]$
#   and $r_{\text{dense}}(s_{t+1}, g) = -\,d(\phi(s_{t+1}), g)$ (§1.1)
# - success at step $t$: $d(\phi(s_{t+1}), g) < \varepsilon$, which disagrees with
#   the sparse reward only at $d = \varepsilon$ (§1.1, §1.4)
# - the relabelled transition, for any goal $g'$:
#   $(s_t, a_t, r(s_{t+1}, g'), s_{t+1}, g')$ (§1.2)
# - the control period, $\Delta = n\,\delta$, and the target at truncation,
#   $y_{T-1} = r_{T} + \gamma\, V(s_T, g)$ (§1.3)
# - the 95% Wilson interval,
#   $\frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}}$
#   with $z = 1.96$, whose upper end at $x = 0$ is $z^2/(n + z^2)$ (§1.5)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# The chapter needs no training, and so no accelerator. It runs the eight
# environments on the CPU, for the number of episodes set by the profile. The
# random-policy episodes are used twice: once for the baseline, and once as the
# transitions on which the reward identities are checked.

# %%
pd.Series(
    {
        "profile": profile,
        "episodes per environment and policy": budget.episodes_per_policy,
        "transitions per environment and policy":
            budget.episodes_per_policy * 50,
        "observations validated per environment": budget.schema_observations,
        "rendering backend": backend,
    },
    name="value",
).to_frame()

# %% [markdown]
# ## 3. Implementation Details
#
# ### 3.1 The constants of each task, read off the environment

# %%
schemas = {e: ch01.interface_schema(e) for e in FETCH_ENV_IDS}
facts = pd.DataFrame({e: s["x-task"] for e, s in schemas.items()})
facts.loc["observation_dim"] = [
    s["properties"]["observation"]["maxItems"] for s in schemas.values()
]
facts = facts.drop(["env_id"])
facts[list(ch01.TASKS)].rename(columns=task_name)

# %% tags=["hide-input"]
reach = schemas["FetchReach-v4"]["x-task"]
glue("ch01_eps", f"{reach['distance_threshold']:g}", display=False)
glue("ch01_horizon", f"{reach['max_episode_steps']}", display=False)
glue("ch01_substeps", f"{reach['n_substeps']}", display=False)
glue("ch01_substep_ms", f"{reach['substep_s'] * 1000:g}", display=False)
glue("ch01_period_ms", f"{reach['control_period_s'] * 1000:g}", display=False)
glue("ch01_hz", f"{1 / reach['control_period_s']:g}", display=False)

# %% [markdown]
# All eight environments share a threshold of
# $\varepsilon$ = {glue:text}`ch01_eps` m and a horizon of
# $T$ = {glue:text}`ch01_horizon` steps. Each step runs
# {glue:text}`ch01_substeps` substeps of {glue:text}`ch01_substep_ms` ms, a
# control period of {glue:text}`ch01_period_ms` ms, that is
# {glue:text}`ch01_hz` Hz. Each Dense variant differs from its sparse twin in
# the reward type only (§4 checks this); the table shows the sparse ones. The
# tasks differ in whether there is an object, whether the fingers may move, and
# where goals are drawn. Reach draws its goals in a box of free space around the
# gripper; among the object tasks, PickAndPlace alone puts goals in the air, and
# Slide alone draws goals beyond the arm's reach, so that the puck must be struck.
#
# ### 3.2 Every dimension, labelled
#
# The labels follow the order in which the environment concatenates the parts of
# its observation. The finger names are read from the model's joints. The
# velocities are multiplied by the control period, so they are displacements per
# step. This matters when observations are normalised.

# %%
labels = schemas["FetchPush-v4"]["properties"]["observation"]["prefixItems"]
pd.DataFrame(
    [(i, x["title"], x["description"]) for i, x in enumerate(labels)],
    columns=["index", "name", "meaning [unit]"],
).set_index("index")

# %% [markdown]
# ### 3.3 Schemas, validated on real observations
#
# Each schema constrains the three arrays to their exact length, labels every
# position, and records in annotations (`x-…`) the NumPy dtype, the bounds, the
# action space and the task constants. It is first checked against the
# draft 2020-12 meta-schema. It is then used to validate observations from the
# random-policy rollouts collected next.

# %%
rollouts = {
    (env_id, policy): ch01_rollouts.collect(
        env_id, policy, budget.episodes_per_policy, seed=seed,
        keep_observations=(
            budget.schema_observations if policy == "random" else 0
        ),
    )
    for env_id in FETCH_ENV_IDS
    for policy in ch01_rollouts.POLICIES
}
validation = {}
for env_id, schema in schemas.items():
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    observed = rollouts[(env_id, "random")].observations
    failures = sum(1 for o in observed if not validator.is_valid(o))
    validation[env_id] = {
        "observations_validated": len(observed),
        "validation_failures": failures,
        "unlabelled_dimensions": len(ch01.unlabelled_dimensions(schema)),
    }
pd.DataFrame(validation).T

# %% [markdown]
# ### 3.4 The reward identities, on real transitions
#
# For every random-policy transition we check the following.
#
# - The reward `step` returned equals `compute_reward(achieved, desired, info)`.
# - The batched call on arrays equals the per-sample calls.
# - For a relabelled goal $g' = \phi(s_{t'})$, with $t'$ drawn uniformly from the
#   later steps of the same episode (HER's *future* strategy), the batched and
#   per-sample calls agree with each other and with the definition of §1.1.
# - `is_success` agrees with a sparse reward of zero, and every disagreement lies
#   at $d = \varepsilon$.
# - The dense reward equals minus the distance.

# %%
consistency = {
    e: ch01_rollouts.reward_consistency(rollouts[(e, "random")], seed=seed + 1)
    for e in FETCH_ENV_IDS
}
short = {
    "step_vs_compute_reward_mismatches": "step ≠ compute",
    "batched_vs_single_mismatches": "batch ≠ single",
    "relabelled_mismatches": "relabel ≠ def.",
    "unexplained_disagreements": "success ≠ reward",
    "original_success_fraction": "success (g)",
    "relabelled_success_fraction": "success (g′)",
}
table = pd.DataFrame(consistency).T[list(short)].rename(columns=short)
table.rename(index=task_name)

# %% tags=["hide-input"]
checked = sum(c["transitions"] for c in consistency.values())
relabelled = sum(c["relabelled_checked"] for c in consistency.values())
mismatches = sum(c["mismatches"] for c in consistency.values())
disagreements = sum(c["success_vs_reward_disagreements"] for c in consistency.values())
glue("ch01_checked", f"{checked:,}", display=False)
glue("ch01_per_env", f"{budget.episodes_per_policy * 50:,}", display=False)
glue("ch01_relabelled", f"{relabelled:,}", display=False)
glue("ch01_mismatches", f"{mismatches:,}", display=False)
glue("ch01_disagreements", f"{disagreements:,}", display=False)
for env_id in ("FetchReach-v4", "FetchPush-v4"):
    key = env_id.removesuffix("-v4").lower()
    c = consistency[env_id]
    glue(f"ch01_{key}_orig_succ", f"{c['original_success_fraction']:.1%}", display=False)
    glue(f"ch01_{key}_relab_succ", f"{c['relabelled_success_fraction']:.1%}", display=False)
reach_c = consistency["FetchReach-v4"]
glue("ch01_relabel_verdict", "relabelling manufactures successes"
     if reach_c["relabelled_success_fraction"] > reach_c["original_success_fraction"]
     else "here relabelling added no successes", display=False)
push_moved = ch01_rollouts.moved_fraction(rollouts[("FetchPush-v4", "random")], reach["distance_threshold"])
glue("ch01_push_moved", f"{push_moved:.1%}", display=False)

# %% [markdown]
# Over {glue:text}`ch01_checked` transitions ({glue:text}`ch01_per_env` per
# environment) and {glue:text}`ch01_relabelled` relabelled ones, {glue:text}`ch01_mismatches` identities failed, and
# `is_success` disagreed with the reward {glue:text}`ch01_disagreements` times
# (the column *success ≠ reward* counts the disagreements *not* at the threshold).
# The last two columns preview Chapter 4. Under the random policy on Reach,
# {glue:text}`ch01_fetchreach_orig_succ` of steps reach the goal that was asked
# for, but {glue:text}`ch01_fetchreach_relab_succ` reach a goal that was relabelled
# from the same episode's future: {glue:text}`ch01_relabel_verdict`. On Push the
# relabelled fraction is {glue:text}`ch01_fetchpush_relab_succ`, but the block
# moved more than $\varepsilon$ from where it started in only
# {glue:text}`ch01_push_moved` of the random episodes. In the others the "future"
# {term}`achieved goal` is simply where the block already lay, and those successes say
# nothing about how to move it, which is why Push remains hard even with hindsight.
#
# ### 3.5 The floors: random and zero-action policies
#
# Success is read at the last step of the episode, as in the evaluations of later
# chapters. Episode $i$ is reset with seed $\omega + i$, from the chapter's seed $\omega$. The same seeds, and so the same
# goals, are used for both policies and for the sparse and dense variants.

# %% [markdown]
# :::{admonition} Procedure: measuring a floor
# :class: note
#
# For each environment and each policy, random or zero-action:
#
# 1. Seed the action space once with the chapter's seed $\omega$; then, for
#    $i = 0, \dots, n-1$ ($n$ = {glue:text}`ch01_n` here), reset episode $i$ with
#    seed $\omega + i$.
# 2. Apply, for $T$ steps, an action drawn uniformly from the action space
#    (random policy) or the zero action. A termination, or a truncation before
#    step $T$, aborts the measurement.
# 3. Score the episode once, by `info["is_success"]` at its last step, and count
#    the $x$ successes.
# 4. Report $\hat p = x/n$ with the 95% Wilson interval of §1.5, beside the
#    fraction of episodes solved at reset ($d < \varepsilon$ before the first step).
# :::

# %%
eps = reach["distance_threshold"]
baselines = [ch01_rollouts.baseline(r, threshold=eps) for r in rollouts.values()]
table = pd.DataFrame(baselines)
table = table[table["env_id"].isin(ch01.TASKS)]
table["task"] = table["env_id"].map(task_name)
table["95% CI"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in table.success_ci95]
table = table.set_index(["task", "policy"]).rename(columns={
    "episodes": "n", "successes": "k", "success_rate": "p̂",
    "mean_final_distance": "final d (m)",
    "mean_initial_distance": "initial d (m)",
    "success_at_reset_fraction": "solved at reset",
})
table[["n", "k", "p̂", "95% CI", "final d (m)", "initial d (m)",
       "solved at reset"]].round(3)

# %% tags=["hide-input"]
by_key = {(b["env_id"], b["policy"]): b for b in baselines}
for env_id in ch01.TASKS:
    b = by_key[(env_id, "random")]
    key = env_id.removesuffix("-v4").lower()
    glue(f"ch01_{key}_rand", f"{b['success_rate']:.1%}", display=False)
    glue(f"ch01_{key}_rand_ci", f"[{b['success_ci95'][0]:.1%}, {b['success_ci95'][1]:.1%}]", display=False)
    glue(f"ch01_{key}_reset", f"{b['success_at_reset_fraction']:.1%}", display=False)
    zero = by_key[(env_id, "zero")]
    glue(f"ch01_{key}_zero", f"{zero['success_rate']:.1%}", display=False)
zero_vs_reset = {
    e: ch01_rollouts.zero_action_changes(rollouts[(e, "zero")], eps) for e in ch01.TASKS
}
glue("ch01_zero_changed", f"{sum(zero_vs_reset.values()):,}", display=False)
glue("ch01_zero_episodes", f"{len(ch01.TASKS) * budget.episodes_per_policy:,}",
     display=False)

# %% [markdown]
# With {glue:text}`ch01_n` episodes per task and policy, the random policy
# succeeds on Reach in {glue:text}`ch01_fetchreach_rand` of episodes (95% CI
# {glue:text}`ch01_fetchreach_rand_ci`), on Push in
# {glue:text}`ch01_fetchpush_rand` ({glue:text}`ch01_fetchpush_rand_ci`), on
# PickAndPlace in {glue:text}`ch01_fetchpickandplace_rand`
# ({glue:text}`ch01_fetchpickandplace_rand_ci`) and on Slide in
# {glue:text}`ch01_fetchslide_rand` ({glue:text}`ch01_fetchslide_rand_ci`).
# Some episodes may begin already solved, with the object inside the tolerance
# because goal and object are drawn independently: the measured fractions are
# {glue:text}`ch01_fetchpush_reset` for Push,
# {glue:text}`ch01_fetchpickandplace_reset` for PickAndPlace and
# {glue:text}`ch01_fetchslide_reset` for Slide. The zero-action policy can do no
# better than keep such episodes solved. It scores
# {glue:text}`ch01_fetchpush_zero` on Push and
# {glue:text}`ch01_fetchpickandplace_zero` on PickAndPlace, and in
# {glue:text}`ch01_zero_changed` of its {glue:text}`ch01_zero_episodes` episodes
# did the final outcome differ from the outcome at reset. These are the floors:
# a learned policy that does not clear them, by more than their intervals, has
# learned nothing.

# %%
order = [rollouts[(e, "random")] for e in ch01.TASKS]
fig = ch01_rollouts.plot_initial_distances(order, threshold=eps)
publish(fig, out / "initial_goal_distance.png", "ch01_initial_fig")
curves = [rollouts[(e, p)] for e in ch01.TASKS for p in ch01_rollouts.POLICIES]
fig = ch01_rollouts.plot_success_against_threshold(curves, threshold=eps)
publish(fig, out / "success_vs_threshold.png", "ch01_threshold_fig")

# %% [markdown]
# ```{glue:figure} ch01_initial_fig
# :name: fig-ch01-initial
#
# Distribution of the initial distance between achieved and desired goal, per
# task, over the {glue:text}`ch01_n` random-policy episodes of each task (one
# reset each, seed $\omega + i$), drawn as violins: a kernel density estimate of
# the observed distances, with the median marked. The dashed line is the
# threshold $\varepsilon$; the area below it approximates the fraction of episodes
# solved at reset, which the table of §3.5 gives exactly.
# ```
#
# ```{glue:figure} ch01_threshold_fig
# :name: fig-ch01-threshold
#
# Final success rate as a function of the threshold $\varepsilon$, for the random
# (solid) and zero-action (dotted) policies, one colour per task, each over the
# same {glue:text}`ch01_n` episodes per task and policy (no band: the curves are
# empirical fractions). The dashed line marks the threshold the tasks use. The
# further a curve stays flat to the right of it, the further the floor lies from
# the goal.
# ```
#
# {numref}`fig-ch01-initial` shows where the episodes start and
# {numref}`fig-ch01-threshold` how the floors depend on the threshold.
#
# ### 3.6 The four tasks

# %%
frames = ch01.render_tasks(size=budget.frame_size, seed=seed)
fig = ch01.tasks_figure(frames)
publish(fig, out / "tasks.png", "ch01_tasks_fig")

# %% [markdown]
# ```{glue:figure} ch01_tasks_fig
# :name: fig-ch01-tasks
#
# The four tasks after a reset with the chapter's seed. The red sphere is the
# desired goal $g$. For Reach the achieved goal is the grip site; for the others it is the
# black block (Push, PickAndPlace) or puck (Slide).
# ```
#
# {numref}`fig-ch01-tasks` shows the four scenes side by side.
#
# ## 4. Verification and Sanity Checks

# %%
for env_id, schema in schemas.items():
    assert not ch01.unlabelled_dimensions(schema), env_id
    assert validation[env_id]["validation_failures"] == 0, validation[env_id]
    assert validation[env_id]["observations_validated"] >= min(
        budget.schema_observations, budget.episodes_per_policy * 50
    )
    task = schema["x-task"]
    assert task["control_period_s"] == task["n_substeps"] * task["substep_s"]
    assert task["max_episode_steps"] == 50
shared = {(s["x-task"]["distance_threshold"], s["x-task"]["max_episode_steps"], s["x-task"]["n_substeps"],
           s["x-task"]["substep_s"]) for s in schemas.values()}
assert len(shared) == 1, f"the eight environments do not share their constants: {shared}"
for env_id, c in consistency.items():
    assert c["mismatches"] == 0, c
    assert c["unexplained_disagreements"] == 0, c
    assert c["transitions"] == budget.episodes_per_policy * 50, c
for b in baselines:
    low, high = b["success_ci95"]
    assert 0.0 <= low <= b["success_rate"] <= high <= 1.0, b
    assert b["episodes"] == budget.episodes_per_policy, b
# a Dense variant is its sparse twin with another reward: same constants,
# and, from the same seeds under the same policy, the same outcomes
for env_id in ch01.TASKS:
    dense_id = env_id.replace("-v4", "Dense-v4")
    sparse_task = schemas[env_id]["x-task"]
    dense_task = schemas[dense_id]["x-task"]
    differ = {k for k in sparse_task if sparse_task[k] != dense_task[k]}
    assert differ == {"env_id", "reward_type"}, differ
    for policy in ch01_rollouts.POLICIES:
        a, b = by_key[(env_id, policy)], by_key[(dense_id, policy)]
        assert a["successes"] == b["successes"], (a, b)
        assert a["mean_final_distance"] == b["mean_final_distance"], (a, b)
"all checks hold"

# %% [markdown]
# Every dimension of every observation is labelled, and every validated
# observation conforms to its schema. All eight environments share the
# threshold, horizon and substeps stated in §3.1. The control period is the
# product of its factors, and no episode terminated before its horizon; `collect` raises
# otherwise. Every reward identity held on every transition. Every success rate
# lies inside its own interval, and every interval inside $[0, 1]$. Each Dense
# variant reproduced its sparse twin's success count and mean final distance
# exactly: the reward type enters neither the dynamics nor these two policies,
# which never read it, so changing how a step is scored does not change what
# happens.
#
# ## 5. Deliverables

# %%
def total(per_env, key):
    return sum(row[key] for row in per_env.values())


interface = {
    "schemas": schemas,
    "validation": validation,
    "totals": {
        "environments": len(schemas),
        "observations_validated": total(validation, "observations_validated"),
        "validation_failures": total(validation, "validation_failures"),
        "unlabelled_dimensions": total(validation, "unlabelled_dimensions"),
    },
}
write_deliverable(out, "interface_schemas.json", interface, run)
reward_report = {
    "environments": consistency,
    "totals": {
        "transitions_checked": checked,
        "relabelled_checked": relabelled,
        "mismatches": mismatches,
        "success_vs_reward_disagreements": disagreements,
        "unexplained_disagreements":
            total(consistency, "unexplained_disagreements"),
    },
}
write_deliverable(out, "reward_consistency.json", reward_report, run)
write_deliverable(out, "baselines.json", {
    "episodes_per_env_and_policy": budget.episodes_per_policy,
    "confidence": 0.95,
    "interval": "wilson",
    "rows": baselines,
}, run)
glue("ch01_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch01_profile", profile, display=False)
verified_table(results, profile, "ch01")

# %% [markdown]
# Under the {glue:text}`ch01_profile` profile the whole chapter took
# {glue:text}`ch01_wall_s` s from its first cell to its last.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - The goal does not enter the dynamics, and the reward is a known function of
#   $(\phi(s_{t+1}), g)$; together these make a relabelled transition a genuine
#   transition of the same process (§1.1, §1.2), for a goal chosen without
#   looking at the outcome. Hindsight's goals do look at it, which biases the
#   relabelled data under stochastic dynamics and shifts their goal distribution
#   (Chapter 4, §1.3).
# - Relabelling is legitimate only if `compute_reward` is pure and vectorised: the
#   function that issued a reward must recompute it from the goals alone, on
#   single transitions and on minibatches alike.
# - A Fetch episode only truncates, after $T$ steps, so the Bellman target at the
#   last step must bootstrap (§1.3).
# - A floor is stated with its protocol and its Wilson interval: zero successes in
#   {glue:text}`ch01_n` episodes still allow a true rate of up to
#   {glue:text}`ch01_wilson_zero`. A learned policy must clear the floors by more
#   than their intervals (§1.5, §3.5).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - **A reward recomputed differently from the reward issued** (§1.2, §3.4):
#   {glue:text}`ch01_mismatches` identities failed over
#   {glue:text}`ch01_checked` transitions and {glue:text}`ch01_relabelled`
#   relabelled ones.
# - **Success and reward disagreeing at the threshold** (§1.4, §3.4): they
#   disagreed {glue:text}`ch01_disagreements` times, and every disagreement must
#   lie at $d = \varepsilon$.
# - **An observation that violates its schema, or a dimension left unlabelled**
#   (§3.3, asserted in §4).
# - **A floor inflated by episodes solved at reset** (§3.5): the zero-action
#   policy's final outcome differed from its outcome at reset in
#   {glue:text}`ch01_zero_changed` of its {glue:text}`ch01_zero_episodes` episodes.
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch01.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch01` (or
# `make check CHAPTER=ch01`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 1.1 (derivation): the Wilson interval.** The score test rejects a
# proportion $p$ when $|\hat p - p| > z\sqrt{p(1-p)/n}$: its standard error is
# computed at the hypothesised $p$, not at $\hat p$. The Wilson interval is the set
# of $p$ it does not reject. Derive the interval's end points of §1.5 by solving
# the boundary equation for $p$, show that the interval lies in $[0, 1]$ and, with
# $x = 0$, that its upper end is $z^2/(n + z^2)$. Write `wilson_interval(successes,
# trials, z=1.96)` returning `(low, high)`.
#
# :::{dropdown} Solution
# Squaring the boundary, $(\hat p - p)^2 = z^2 p(1-p)/n$, a quadratic in $p$:
# $(1 + z^2/n)\,p^2 - (2\hat p + z^2/n)\,p + \hat p^2 = 0$. Its roots are
#
# $$
# p_\pm = \frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}} .
# $$
#
# The quadratic's value at $p = 0$ is $\hat p^2 \ge 0$ and at $p = 1$ is
# $(1 - \hat p)^2 \ge 0$, while at $p = \hat p$ it is $-z^2\hat p(1-\hat p)/n \le 0$:
# both roots lie in $[0, 1]$ and straddle $\hat p$. With $x = 0$ the constant term
# vanishes, the roots are $0$ and $(z^2/n)/(1 + z^2/n) = z^2/(n + z^2)$.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch01.py
# :language: python
# :pyobject: wilson_interval
# ```
# :::
#
# **Problem 1.2 (implementation): the random floor, by its protocol.** A floor
# is only comparable when its protocol is stated. Write `random_floor(env_id,
# episodes, seed)` returning each episode's outcome (a list of booleans) under
# uniformly random actions, with this protocol: episode $i$ resets with seed
# `seed + i`; the actions come from `env.action_space`, seeded once with `seed`
# before the first episode; an episode succeeds when `info["is_success"]` is 1 at
# its last step. The check compares your outcomes, episode by episode, with the
# protocol's on Reach (where success depends on the actions) and on Push (where it
# depends mostly on where the reset put the object).
#
# :::{dropdown} Solution
# Success is read once, at the end: the episode is cut by the time limit
# (truncation) after 50 steps and its last `info` decides. Seeding the action space
# per episode, or resetting without a seed after the first, gives a different,
# equally random, sequence: a floor that cannot be reproduced.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch01.py
# :language: python
# :pyobject: random_floor
# ```
# :::
#
# **Problem 1.3 (diagnosis): a success criterion that inflates the floor.** The
# stub's `episode_success` gives a random policy on Reach a floor well above the
# one this chapter measured. Run the check, read the symptom, and repair it.
#
# :::{dropdown} Solution
# The stub counts an episode successful if `is_success` was 1 at *any* step. A
# random arm sweeps through the goal's ball and out again, so "any step" measures
# how often it passes near the goal, not whether it ends there. The book's
# criterion (§3.5 and Chapter 7, §1.5) is the last step's.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch01.py
# :language: python
# :pyobject: episode_success
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch01.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch01")
