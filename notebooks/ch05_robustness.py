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
# # Chapter 5 — Robustness of Learned Manipulation Policies

# %% tags=["parameters", "remove-cell"]
# Parameters: papermill overrides these, and they are all the runner tells a chapter. Empty means, as
# in JupyterLab: the profile from $GCRL_PROFILE (else the default of gcrl.course.profiles), the results
# folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 1000  # the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones
results_root = ""
inputs_digest = "interactive"  # the runner's digest of the chapter's inputs: the key of its resumable training runs

# %% tags=["remove-input"]
import inspect
import os

import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from gcrl.analysis import experiments, robustness
from gcrl.analysis.plots import degradation_curves, learning_curves, publish
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch04_her as ch04
from gcrl.chapters import ch05_robustness as ch05
from gcrl.core.paths import training_runs
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl import perturb, video
from gcrl.rl.envs import make_fetch_env, task_name
from gcrl.rl.sac_her.config import SacHerConfig

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch05", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# Chapter 4 trained policies on Reach and Push and measured their success in the
# environment they were trained in ({glue:text}`ch05_ch4_success`). A claim of
# that kind is narrow: it is a statement about one transition kernel, one
# observation channel and one goal distribution, each exactly as the simulator
# defines them. This chapter asks how far the claim extends. We define
# {term}`robustness <robustness curve>` as a curve, the success rate as a function of a perturbation's
# severity over a stated family of perturbations, and we measure it for Chapter
# 4's Reach and Push policies, loaded from Chapter 4's results and not retrained,
# under every family that applies to the task ({glue:text}`ch05_family_counts`):
# observation noise with and without noise on the achieved goal, action noise,
# action latency, sensor dropout, changes of joint damping, and, with an object,
# of contact friction and object mass, and shifts of the goal distribution. Each
# curve is condensed into two numbers, the normalised area under it and the
# severity at which success halves. We then train domain-randomised versions of
# Chapter 4's runs on {glue:text}`ch05_dr_tasks`, with the same seeds, recipe and
# budget, measure what the added robustness costs in nominal success and in
# sample efficiency, and measure a proxy for how far the hidden physical parameter makes
# hindsight relabelling optimistic.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 Robustness is a function, not a number
#
# Let $\mathcal{M}_0$ be the goal-conditioned MDP a policy $\pi$ was trained in
# and $\{\mathcal{M}_\sigma\}_{\sigma \ge 0}$ a *family* of perturbed versions,
# indexed by a severity $\sigma$ in the family's own unit, with
# $\mathcal{M}_0$ the nominal task. The family fixes *what* is perturbed (what
# the policy observes, what its actions do, the physics, or the goals); the
# severity fixes *how much*. The robustness of $\pi$ to the family is the
# function
#
# $$
# R_\pi(\sigma) = \Pr\big[\text{success at } T \mid \pi, \mathcal{M}_\sigma\big], \qquad \sigma \ge 0,
# $$
#
# where success is always judged on the true state of $\mathcal{M}_\sigma$,
# never on what a perturbed sensor reports. A single number such as
# "robust to 1 cm of noise" is one point of this function; it says nothing
# about how fast success falls beyond that point, and two policies can agree at
# one severity and differ widely at the next. We therefore estimate $R_\pi$ on a
# grid $0 = \sigma_0 < \sigma_1 < \dots < \sigma_m$, with the same evaluation
# episodes at every severity, so that two points of a curve differ only by the
# perturbation, and we report each point with its 95% Wilson interval.
#
# Two summaries make curves comparable. The *normalised area*
#
# $$
# A_\pi = \frac{1}{u(\sigma_m)} \int_0^{\sigma_m} R_\pi(\sigma)\, \mathrm{d}u(\sigma)
# $$
#
# is the mean success over the severity axis, computed by the trapezoidal rule
# on the grid. The axis $u$ is $\sigma$ itself, except for the two families whose
# grids span several orders of magnitude, arm damping and object mass, which are
# read on $u = \log(1 + \sigma)$ (a mass twenty times the nominal is not "twice
# as severe" as ten times). $A_\pi = R_\pi(0)$ for a policy the family does not
# affect, and $A_\pi \le \max_\sigma R_\pi(\sigma)$ always. Whatever the axis,
# $A_\pi$ depends on where the grid ends: extending it into severities where
# success is zero lowers the area. Areas therefore compare policies on the same
# family and grid, never one family with another, whose grids end at
# arbitrarily chosen severities. The *half-success severity*
# $\sigma_{1/2} = \inf\{\sigma : R_\pi(\sigma) \le R_\pi(0)/2\}$, interpolated
# linearly on the family's axis between grid points, answers the practical
# question of how much perturbation the policy tolerates before losing half of
# what it had; it is undefined when the curve never halves within the grid,
# which we report as such rather than extrapolate, and when $R_\pi(0) = 0$,
# since a policy that never succeeds has nothing to lose.
#
# ### 1.2 Where a perturbation enters the loop
#
# The four kinds of perturbation act on different parts of the interaction
# $s_t \to o_t \to a_t \to s_{t+1}$ and break different assumptions.
#
# *Observation noise* replaces the policy's input $(o_t, g)$ by
# $(o_t + \nu_t, g)$, with Gaussian noise $\nu_t$. The dynamics are untouched, but the policy is
# evaluated at states it is not in. How much that matters depends on the
# policy's input scaling: the book's SAC+HER normalises each feature $i$ by a
# running standard deviation $\hat s_i$, so the policy sees
# $\nu_i / \hat s_i$, and a feature whose training variance was
# tiny amplifies even minute noise. §3.4 measures exactly this.
#
# *Actuation noise and latency* act between the policy and the physics. Noise
# $a_t + \eta_t$ (clipped to the action box) perturbs each commanded
# displacement, but the policy acts in closed loop and can correct an error at
# the next step, so one expects little loss until the noise is comparable to
# the commands themselves. Latency is qualitatively different: if the action applied at
# $t$ is the one chosen at $t - \ell$, the process is no longer Markov in
# $(s_t, g)$, because the effect of the next $\ell$ applied actions is already
# determined by past choices that $s_t$ does not record. A policy of $(s_t, g)$
# alone cannot be optimal for it; at best it can be cautious.
#
# *Dynamics shift* changes the transition kernel $P$: friction, mass and
# damping alter what a given action does. The policy was optimised for $P_0$
# and its value estimates are correct only there.
#
# *Goal shift* changes the goal distribution $p(g)$. A universal value function
# $Q(s, a, g)$ {cite:p}`schaul2015uvfa` is trained on the goals the buffer
# contains, the commanded ones and, with hindsight, the achieved ones; a goal
# outside that support asks the network to extrapolate. Goals in the air on
# Push are the extreme case: no pushing motion can lift the block. A lifted goal
# rises by a height drawn uniformly up to {glue:text}`ch05_air_height` m, so even a
# perfect pusher reaches only the lifted goals lower than $\varepsilon$, a fraction
# {glue:text}`ch05_air_reachable` of them; with a fraction $s$ of goals lifted its
# success is at most $(1 - s) + s \cdot$ {glue:text}`ch05_air_reachable`.
# Reach's goal-range family is not pure extrapolation either: its box widens in
# height as well, and from some width on it places goals below the lowest
# point the gripper reaches, where the table stops it. Part of the fall of
# Reach's goal-range curve is therefore infeasibility, as for goals in the air,
# and no policy could avoid it.
#
# ### 1.3 Noise and hidden parameters interact with hindsight
#
# Hindsight relabelling (Chapter 4, §1.4) replaces the goal of a stored
# transition $t$ by an achieved goal $\tilde g = \phi(s_{j+1})$, $j \ge t$, and
# recomputes the reward $r(\phi(s_{t+1}), \tilde g)$. Both quantities are read from
# the `achieved_goal` entries of the buffer. If training added noise to
# `achieved_goal`, the substituted goal would be a point the gripper never
# reached, and the recomputed reward would be a function of two noisy
# quantities: a transition could be rewarded for a goal its true next state
# missed, or punished for one it hit. The relabelled data would no longer be
# transitions of the goal-conditioned MDP at all. In this chapter the randomised
# training therefore adds noise to `observation` only, so that relabelling keeps
# using the simulator's exact achieved goals; the evaluation family
# "observation + achieved-goal noise" then asks separately what happens when
# the *policy* perceives the achieved goal with noise, while success is still
# judged on the true state.
#
# Exact achieved goals do not make relabelling exact. Chapter 4 (§1.3) showed
# that `future` relabelling is unbiased only where the next state is determined
# by what the learner sees: it selects a goal *because* the episode reached it,
# so where the outcome of an action is random given the observation, the
# relabelled data over-represent the outcomes that went the lucky way, and the
# critic overestimates how reliably an action reaches such a goal. Domain
# randomisation creates exactly that randomness. Each episode draws a physical
# parameter $\xi$ that the learner never observes, and every step adds
# observation noise, so given what the learner sees the next achieved goal is
# a random variable whose spread comes from $p(\xi)$ and from the noise. Its size
# decides the size of the bias, and it can be measured: §3.6 restores one
# simulator state many times, draws $\xi$ afresh each time, replays the same
# actions, and counts how often two draws end more than $\varepsilon$ apart, the
# chance that a relabelled reward of 0 would have been $-1$ under another draw.
#
# ### 1.4 Domain randomisation
#
# Domain randomisation trains under a distribution of environments rather than
# one: Tobin et al. {cite:p}`tobin2017domain` randomised what a camera sees, Peng
# et al. {cite:p}`peng2018dynamics` the dynamics. With a parameter $\xi$ (here,
# relative changes of physical constants) drawn from $p(\xi)$ at every episode,
# and observation noise of a fixed scale drawn afresh at every step, it maximises
#
# $$
# J_p(\pi) = \mathbb{E}_{\xi \sim p}\big[J(\pi; \mathcal{M}_\xi)\big].
# $$
#
# Two consequences follow from the objective alone. First, a policy of
# $(s_t, g)$ cannot observe $\xi$, so the problem it solves is a partially
# observed one: the best Markov policy for the mixture is in general not the
# best policy for any single $\mathcal{M}_\xi$, including the nominal one (Peng et
# al. gave their policy a memory for this reason). Some
# nominal performance can be lost, and whether it is, is an empirical question
# this chapter answers for Reach. Second, $J_p$ is an average, not a worst case:
# it rewards doing well on typical draws and tolerates failure on rare ones.
# Guarding against the worst case is a different objective,
# $\max_\pi \min_\xi J(\pi; \mathcal{M}_\xi)$, pursued by adversarial training
# {cite:p}`pinto2017rarl`. A learner that sees more varied data may also need
# more of it, so we compare the learning curves as well as the end points.

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - robustness curve: $R_\pi(\sigma) = \Pr\big[\text{success at } T \mid \pi, \mathcal{M}_\sigma\big]$, $\sigma \ge 0$ (§1.1)
# - normalised area: $A_\pi = \frac{1}{u(\sigma_m)} \int_0^{\sigma_m} R_\pi(\sigma)\, \mathrm{d}u(\sigma)$, with $u = \sigma$ or $u = \log(1 + \sigma)$ (§1.1)
# - half-success severity: $\sigma_{1/2} = \inf\{\sigma : R_\pi(\sigma) \le R_\pi(0)/2\}$ (§1.1)
# - observation noise as the policy sees it: $\nu_i / \hat s_i$ (§1.2)
# - relabelled goal and reward: $\tilde g = \phi(s_{j+1})$, $j \ge t$, and $r(\phi(s_{t+1}), \tilde g)$ (§1.3)
# - {term}`domain randomisation`: $J_p(\pi) = \mathbb{E}_{\xi \sim p}\big[J(\pi; \mathcal{M}_\xi)\big]$, against the worst case $\max_\pi \min_\xi J(\pi; \mathcal{M}_\xi)$ (§1.4)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# ### 2.1 The perturbation families
#
# The table lists every family with its unit and the severities measured under
# the {glue:text}`ch05_profile` profile. Physical changes are relative: a
# severity $s$ multiplies the nominal value by $1 + s$ (by $1 - s$ for the
# friction loss). Contact friction scales the sliding friction of both the
# table and the block, because MuJoCo gives a contact the larger of its two
# geoms' coefficients: lowering one alone changes nothing.

# %%
glue("ch05_profile", profile, display=False)
env_ids = (ch05.REACH, ch05.PUSH)
pd.DataFrame(ch05.family_table(env_ids, budget)).assign(
    tasks=lambda t: t.tasks.map(lambda ids: ", ".join(task_name(e) for e in ids))).set_index("family")

# %% [markdown]
# ### 2.2 The policies
#
# The policies are Chapter 4's SAC+HER runs on Reach and Push, one per training
# seed, loaded from the checkpoints that Chapter 4's deliverable indexes. Their
# final success, as Chapter 4 measured it on its own evaluation episodes, is the
# reference against which this chapter's nominal point is checked (§4).

# %%
policies = ch05.chapter4_policies(session.upstream)
her_record = session.upstream.read("ch04", "her_results.json")
chapter4_runs = her_record["reach"]["runs"] + her_record["push"]["runs"]["HER"]
chapter4_final = {env_id: experiments.pooled_by_env(chapter4_runs)[env_id] for env_id in env_ids}
assert all(1 <= len(policies[e]) <= budget.seeds for e in env_ids), {e: len(policies[e]) for e in env_ids}
glue("ch05_ch4_success", "; ".join(f"{task_name(e)} {experiments.pooled_text(chapter4_final[e])}" for e in env_ids),
     display=False)
glue("ch05_family_counts", ", ".join(f"{len(robustness.families_for(e))} on {task_name(e)}" for e in env_ids),
     display=False)
glue("ch05_dr_tasks", " and ".join(task_name(e) for e in budget.dr_tasks), display=False)
glue("ch05_air_height", f"{perturb.GoalsInAir.MAX_HEIGHT:g}", display=False)
glue("ch05_air_reachable", f"{ch04.success_threshold() / perturb.GoalsInAir.MAX_HEIGHT:.2f}", display=False)
pd.DataFrame([{"task": task_name(e), "seeds": len(policies[e]),
               "env steps": policies[e][0].config["total_steps"],
               "Chapter 4 final success": experiments.pooled_text(chapter4_final[e])} for e in env_ids]).set_index("task")

# %% [markdown]
# Every point of a curve pools {glue:text}`ch05_point_episodes` outcomes. Within
# a task every policy plays the same episodes: {glue:text}`ch05_policy_episodes`,
# whose reset seeds start at {glue:text}`ch05_seed_base`, disjoint from every
# seed used in training and in Chapter 4's evaluations, and the same at every
# severity. A point's Wilson interval treats its pooled outcomes as independent
# trials. They are not: outcomes share an episode across policies and a
# training seed within a policy, so the band understates the uncertainty (the
# warning of §3.5 says what this costs). A
# perturbation draws its noise from its own stream, re-seeded from its seed and
# the episode's seed at every reset, so an evaluation episode is reproducible on
# its own, whatever ran before it.
#
# ### 2.3 Domain-randomised training
#
# The randomised runs repeat Chapter 4's runs for the tasks below, with the same
# seeds, recipe, budget and nominal evaluation during training. Only the
# training environment changes: observation noise of the stated standard
# deviation at every step (goals clean, §1.3), and at every reset a uniform draw
# of each physical change from its range.

# %%
glue("ch05_seeds", f"{budget.seeds}", display=False)
point_episodes = budget.seeds * budget.eval_episodes
glue("ch05_point_episodes", f"{point_episodes}", display=False)
glue("ch05_policy_episodes", " and ".join(
    f"each of {task_name(e)}'s {len(policies[e])} polic{'y' if len(policies[e]) == 1 else 'ies'} plays the same "
    f"{ch05.episodes_per_policy(policies[e], budget)}" for e in policies), display=False)
glue("ch05_push_seeds", f"{len(policies[ch05.PUSH])}", display=False)
glue("ch05_seed_base", f"{robustness.ROBUSTNESS_SEED_BASE:,}", display=False)
randomised_plan = ch05.randomised_plan(policies, budget)
pd.DataFrame([{"task": task_name(e), "observation noise std": ch05.RANDOMISATION[e]["observation_noise"],
               "physics (field, low, high)": "; ".join(f"{f} in [{lo:+g}, {hi:+g}]"
                                                       for f, lo, hi in ch05.RANDOMISATION[e]["physics_ranges"]),
               "runs": sum(1 for (env, _) in randomised_plan if env == e)} for e in budget.dr_tasks]).set_index("task")

# %%
randomised = ch05.train_randomised(randomised_plan, training_runs(out, inputs_digest), run)

# %% [markdown]
# ## 3. Implementation Details
#

# %% [markdown]
# :::{admonition} Procedure: a degradation curve
# :class: note
#
# 1. Fix a family $\{\mathcal{M}_\sigma\}_{\sigma \ge 0}$ and its grid
#    $0 = \sigma_0 < \sigma_1 < \dots < \sigma_m$ in the family's unit (§1.1, §2.1).
# 2. Fix the episodes: the task's policies, one per training seed, all play the
#    same episodes, whose reset seeds start at {glue:text}`ch05_seed_base`, the
#    same at every severity, {glue:text}`ch05_point_episodes` outcomes per point
#    (§2.2).
# 3. At each severity $\sigma_i$, run each policy in the family's wrapper, whose
#    noise stream is re-seeded at every reset; one job is a policy, a family, a
#    severity and a block of episodes, and the nominal point, the identity for
#    every family, is evaluated once per policy and shared (§3.1–3.2).
# 4. Judge success on the true state of $\mathcal{M}_{\sigma_i}$, never on what a
#    perturbed sensor reports, and pool over policies and episodes into one
#    point with its 95% Wilson interval, which treats the pooled outcomes as
#    independent (§1.1, §2.2).
# 5. Condense the curve into $A_\pi$, by the trapezoidal rule on the family's
#    axis $u$, and $\sigma_{1/2}$, interpolated linearly on $u$ and reported as
#    undefined where the curve never halves within the grid or $R_\pi(0) = 0$
#    (§1.1).
# :::

# %% [markdown]
# ### 3.1 Perturbations as wrappers
#
# `scripts/gcrl/rl/perturb.py` implements each family as a Gymnasium wrapper with a
# severity and a seed. All derive from one base class whose `reset` re-seeds the
# wrapper's stream and whose `step` passes the action through `action()` and the
# observation through `observation()`; a family overrides only what it perturbs.
# Observation noise, for instance, is the whole of this class:

# %%
print(inspect.getsource(perturb.ObservationNoise))

# %% [markdown]
# Physical changes write MuJoCo model fields (`geom_friction`, `body_mass` and
# `body_inertia`, `dof_damping`) from nominal values read once at construction,
# at every reset, so changes never compound, and write the nominal values back
# on `close()`. `tests/test_perturb.py` checks, for every family, that severity
# 0 reproduces the bare environment step for step, that the change is applied
# and undone where it should be, that noise has the stated distribution and
# reproduces from its seeds, and that a lower contact friction lets a flicked
# block slide farther. Domain randomisation uses the same physics wrapper with a
# range instead of a value, and the book's SAC+HER checkpoints the wrappers'
# random streams, so a randomised run resumes exactly like a nominal one.
#
# ### 3.2 The evaluation grid
#
# One evaluation job is a policy, a family, a severity and a block of episodes.
# Jobs run in parallel worker processes, each loading a policy once from its
# checkpoint. Severity 0 is the identity for every family, so the nominal point
# is evaluated once per policy and shared by all of its curves.

# %%
measured = {"Reach": (ch05.REACH, policies[ch05.REACH]), "Push": (ch05.PUSH, policies[ch05.PUSH])}
for env_id in budget.dr_tasks:
    measured[f"{task_name(env_id)}, randomised"] = (env_id, [
        robustness.PolicySource(str(result.run_dir), result.config.as_dict())
        for (e, _), result in randomised.items() if e == env_id])
jobs = {label: ch05.evaluation_jobs(sources, env_id, budget) for label, (env_id, sources) in measured.items()}
evaluations = robustness.run_grouped(jobs)
curves = {label: ch05.curves(evaluations[label], env_id) for label, (env_id, _) in measured.items()}
summaries = {label: ch05.summaries(curves[label], env_id) for label, (env_id, _) in measured.items()}
glue("ch05_jobs", f"{sum(len(js) for js in jobs.values())}", display=False)
glue("ch05_episodes_total", f"{sum(j.episodes for js in jobs.values() for j in js):,}", display=False)

# %% [markdown]
# The grid ran {glue:text}`ch05_jobs` jobs, {glue:text}`ch05_episodes_total`
# evaluation episodes in all.
#
# ### 3.3 Degradation curves

# %%
reach_families = robustness.families_for(ch05.REACH)
reach_labels = [label for label, (env_id, _) in measured.items() if env_id == ch05.REACH]
fig = degradation_curves({label: curves[label] for label in reach_labels}, reach_families)
publish(fig, out / "degradation_reach.png", "ch05_reach_fig")
push_families = robustness.families_for(ch05.PUSH)
push_labels = [label for label, (env_id, _) in measured.items() if env_id == ch05.PUSH]
fig = degradation_curves({label: curves[label] for label in push_labels}, push_families, columns=5)
publish(fig, out / "degradation_push.png", "ch05_push_fig")
glue("ch05_log_families", " and ".join(f.name for f in robustness.FAMILIES if f.log_axis), display=False)

# %% [markdown]
# ```{glue:figure} ch05_reach_fig
# :name: fig-ch05-reach
#
# Degradation curves of Chapter 4's Reach policies (nominal training) and of the
# randomised ones of §3.5, one panel per family: success against the family's
# severity, pooled over {glue:text}`ch05_seeds` training seed(s) and
# {glue:text}`ch05_point_episodes` fixed episodes per point; bands: 95% Wilson
# intervals of the pooled rate. The {glue:text}`ch05_log_families` panels use the
# axis $\log(1 + \sigma)$.
# ```
#
# ```{glue:figure} ch05_push_fig
# :name: fig-ch05-push
#
# Degradation curves of Chapter 4's Push policies, as in
# {numref}`fig-ch05-reach`: {glue:text}`ch05_push_seeds` seed(s) and
# {glue:text}`ch05_point_episodes` episodes per point, 95% Wilson bands.
# ```
#
# {numref}`fig-ch05-reach` and {numref}`fig-ch05-push` show the curves. The
# summaries condense each curve (§1.1): nominal success, the worst success on
# the grid, the normalised area, and the half-success severity in the family's
# unit ("—" where the curve never halves within the grid).

# %%
def summary_table(labels):
    rows = []
    for label in labels:
        env_id = measured[label][0]
        for family in robustness.families_for(env_id):
            s = summaries[label][family.key]
            half = s["half_success_severity"]
            rows.append({"policy": label, "family": family.name, "nominal": f"{s['nominal_success']:.2f}",
                         "worst": f"{s['worst_success']:.2f}", "area": f"{s['normalised_area']:.2f}",
                         "half-success severity": "—" if half is None else f"{half:.3g} ({family.unit})"})
    return pd.DataFrame(rows).set_index(["policy", "family"])


summary_table(list(measured))

# %%
for label in ("Reach", "Push"):
    glue(f"ch05_halves_{label.lower()}", ch05.halving_text(summaries[label], measured[label][0]), display=False)

push_nominal = curves["Push"][robustness.FAMILIES[0].key][0]
floor = ch01.floors(session.upstream, ch05.PUSH)["zero"]
above_floor = push_nominal["ci95_low"] > floor["success_ci95"][1]
glue("ch05_push_nominal", experiments.pooled_text(push_nominal), display=False)
glue("ch05_push_floor", f"{floor['success_rate']:.1%} (95% CI [{floor['success_ci95'][0]:.1%}, "
                        f"{floor['success_ci95'][1]:.1%}], {floor['episodes']} episodes)", display=False)
glue("ch05_push_reading",
     "above that floor, so its curves measure a pushing skill and its summaries can be compared with Reach's"
     if above_floor else
     "not above that floor: the policies do not push, and the goal they reach is the one that started within "
     "tolerance of the block. Their curves measure that floor and their summaries say nothing about robustness; "
     "Push becomes informative in the full profile, which trains it to the published budget", display=False)

# %% [markdown]
# Within the grids measured, the Reach policies lose half of their nominal success
# under {glue:text}`ch05_halves_reach`; the Push policies under
# {glue:text}`ch05_halves_push`. (Areas and half-success severities compare
# policies within a family, not one family with another, §1.1.) The Push numbers
# need a reference before they can be read. On nominal episodes Chapter 4's Push
# policies succeed on {glue:text}`ch05_push_nominal`; Chapter 1 measured that a
# gripper that does not move at all succeeds on {glue:text}`ch05_push_floor`.
# The policies' nominal success is {glue:text}`ch05_push_reading`.
#
# ### 3.4 Why millimetres of observation noise matter
#
# §1.2 predicted that per-feature normalisation amplifies noise on features
# whose training variance was small. The policy's normaliser holds those
# variances; the table lists, for one Reach policy, the features with the
# smallest standard deviation, and the factor by which the normaliser
# multiplies noise of one millimetre on each.

# %%
reach_source = policies[ch05.REACH][0]
std = ch05.training_std(reach_source)
reach_env = make_fetch_env(ch05.REACH)
labels = ch01.observation_labels(reach_env)
reach_env.close()
fragile_features = pd.DataFrame([{"feature": labels[i]["name"], "unit": labels[i]["unit"],
                                  "training std": f"{std[i]:.2e}",
                                  "1 mm of noise, in training stds": f"{1e-3 / std[i]:,.1f}"}
                                 for i in np.argsort(std)[:5]]).set_index("feature")
glue("ch05_min_std_feature", fragile_features.index[0], display=False)
glue("ch05_eps_cm", f"{ch04.success_threshold() * 100:g}", display=False)
glue("ch05_amplification", fragile_features.iloc[0]["1 mm of noise, in training stds"], display=False)
noise_family = robustness.family("observation noise")
half = summaries["Reach"][noise_family.key]["half_success_severity"]
glue("ch05_obsnoise_half", "no severity of the grid" if half is None else f"a standard deviation of {half * 1e3:.2g} mm",
     display=False)
fragile_features

# %% [markdown]
# The least variable feature, {glue:text}`ch05_min_std_feature`, turns one
# millimetre of noise into {glue:text}`ch05_amplification` training standard
# deviations (the normaliser clips its output at ±10). A network evaluated on
# inputs many standard deviations away from anything it was trained on computes
# an arbitrary output, so the observation-noise curve can fall at severities far
# below the task's tolerance of {glue:text}`ch05_eps_cm` cm; on Reach, success halves at
# {glue:text}`ch05_obsnoise_half`. This is consistent with the input scaling
# amplifying the noise rather than with the control problem being sensitive
# to millimetres; the chapter does not isolate that cause (a run with noise on
# the non-fragile features only, or a floor under the normaliser's standard
# deviations, would). Randomised training shows the normaliser noisy
# features from the first step, which changes these statistics, and the
# randomised policy's curve in §3.3 shows the consequence.
#
# ### 3.5 What robustness costs
#
# The randomised runs evaluate on the nominal task during training, exactly as
# Chapter 4's runs did, on the same episodes. Their learning curves and final
# nominal success therefore compare directly with Chapter 4's.

# %%
panels, cost_rows = {}, []
for env_id in budget.dr_tasks:
    entries = her_record["policies"][env_id]  # Chapter 4's runs, and the randomised run of each one's seed
    nominal_runs = [her_record["curves"][entry["run"]] for entry in entries]
    randomised_runs = [randomised[env_id, entry["seed"]].curve for entry in entries]
    panels[task_name(env_id)] = {"nominal (Chapter 4)": nominal_runs, "randomised": randomised_runs}
    nominal_final = experiments.pooled_curve(nominal_runs)[-1]
    randomised_final = experiments.pooled_curve(randomised_runs)[-1]
    gap = experiments.paired_pooled_difference(experiments.final_outcomes(randomised_runs),
                                               experiments.final_outcomes(nominal_runs))
    label = task_name(env_id)
    area_gain = {f.key: summaries[f"{label}, randomised"][f.key]["normalised_area"] - summaries[label][f.key]["normalised_area"]
                 for f in robustness.families_for(env_id)}
    cost_rows.append({"env_id": env_id, "nominal": nominal_final, "randomised": randomised_final, "difference": gap,
                      "area_gain": area_gain,
                      "nominal_steps_to_threshold": experiments.steps_to_threshold(
                          experiments.pooled_curve(nominal_runs), ch04.THRESHOLD),
                      "randomised_steps_to_threshold": experiments.steps_to_threshold(
                          experiments.pooled_curve(randomised_runs), ch04.THRESHOLD)})
fig = learning_curves(panels)
publish(fig, out / "randomisation_learning_curves.png", "ch05_cost_fig")

# %%
pd.DataFrame([{
    "task": task_name(r["env_id"]),
    "nominal training, final": experiments.pooled_text(r["nominal"]),
    "randomised training, final": experiments.pooled_text(r["randomised"]),
    "difference (95% CI)": f"{r['difference']['difference']:+.2f} [{r['difference']['ci95_low']:+.2f}, "
                           f"{r['difference']['ci95_high']:+.2f}]",
    f"steps to {ch04.THRESHOLD:.0%}, nominal": r["nominal_steps_to_threshold"] or "not reached",
    f"steps to {ch04.THRESHOLD:.0%}, randomised": r["randomised_steps_to_threshold"] or "not reached",
} for r in cost_rows]).set_index("task")

# %% [markdown]
# ```{glue:figure} ch05_cost_fig
# :name: fig-ch05-cost
#
# Nominal success against environment steps during training, Chapter 4's runs
# against the randomised ones, on the same fixed evaluation episodes
# ({glue:text}`ch05_ch4_eval_episodes` per evaluation and seed): thin lines, each of
# {glue:text}`ch05_seeds` seed(s); thick, the rate pooled over seeds with its 95%
# Wilson band.
# ```

# %%
reach_cost = cost_rows[0]
gains = reach_cost["area_gain"]
best_gain = max(reach_families, key=lambda f: gains[f.key])
worst_gain = min(reach_families, key=lambda f: gains[f.key])
glue("ch05_best_gain", f"{best_gain.name} ({gains[best_gain.key]:+.2f} in area)", display=False)
glue("ch05_worst_gain", f"{worst_gain.name} ({gains[worst_gain.key]:+.2f})", display=False)
difference = reach_cost["difference"]
glue("ch05_nominal_cost", f"{difference['difference']:+.2f} [{difference['ci95_low']:+.2f}, "
                          f"{difference['ci95_high']:+.2f}]", display=False)
glue("ch05_nominal_cost_verdict", "the interval lies below zero: randomisation cost nominal success"
     if difference["ci95_high"] < 0 else "the interval lies above zero: randomisation raised nominal success"
     if difference["ci95_low"] > 0 else "the interval contains zero: no cost is detectable on these episodes",
     display=False)
glue("ch05_randomised_over", " and ".join(
    ["observation noise"] * bool(ch05.RANDOMISATION[ch05.REACH]["observation_noise"])
    + [field.replace("_", " ") for field, _, _ in ch05.RANDOMISATION[ch05.REACH]["physics_ranges"]]), display=False)
glue("ch05_ch4_eval_episodes", f"{her_record['budget']['eval_episodes']}", display=False)

# %% [markdown]
# {numref}`fig-ch05-cost` shows what randomised training does to learning. On
# Reach, randomisation changed the nominal final success by
# {glue:text}`ch05_nominal_cost` (randomised minus nominal, with a 95% paired
# two-stage bootstrap interval: each seed's randomised run is paired with
# Chapter 4's run of the same seed, and both arms play the same evaluation
# episodes, so each replicate draws seeds as pairs and then episodes shared by
# the two arms, as Problem 5.2 asks of paired outcomes):
# {glue:text}`ch05_nominal_cost_verdict`. Across families, its largest change of
# area is for {glue:text}`ch05_best_gain`, and its smallest (or most negative) for
# {glue:text}`ch05_worst_gain`. On Reach, training randomised
# {glue:text}`ch05_randomised_over` only; a change of area for another family is
# either transfer from those or variation between training seeds, which
# {glue:text}`ch05_seeds` seed(s) per arm cannot separate.
#
# ```{warning}
# These comparisons rest on {glue:text}`ch05_seeds` training seed(s) per arm. The
# difference's interval resamples seeds, but a bootstrap over three seeds sees
# little of their distribution; the per-family areas and the pooled rates beside
# them treat episodes as exchangeable and ignore the variation between seeds
# altogether. Chapter 6 treats seeds properly.
# ```
#
# ### 3.6 What the hidden parameter does to relabelling
#
# §1.3 argued that under domain randomisation `future` relabelling is biased,
# by an amount that depends on how far the hidden parameter spreads the outcome
# of the same actions. The measurement restores one simulator state many times,
# draws the randomised physics afresh for each copy (each field from its own
# stream, independently, as the randomised training draws them), replays the same random
# actions, and compares where the achieved goal ends: after one step (the goal
# that a `future` draw with $j = t$ substitutes) and after several (larger $j$).

# %%
bias = {env_id: robustness.hidden_parameter_spread(
    env_id, ch05.RANDOMISATION[env_id]["physics_ranges"], states=budget.bias_states, draws=ch05.BIAS_DRAWS,
    horizons=ch05.BIAS_HORIZONS, seed=ch05.BIAS_SEED) for env_id in budget.dr_tasks}
pd.DataFrame([{"task": task_name(env_id), "steps replayed": int(h),
               "mean distance between two draws (mm)": f"{v['mean_pair_distance_m'] * 1e3:.1f}",
               "pairs more than ε apart": f"{v['pairs_beyond_threshold']:.1%}"}
              for env_id, b in bias.items() for h, v in b["horizons"].items()]).set_index(["task", "steps replayed"])

# %% tags=["hide-input"]
reach_bias = bias[ch05.REACH]
short, long_ = (reach_bias["horizons"][str(h)] for h in (min(ch05.BIAS_HORIZONS), max(ch05.BIAS_HORIZONS)))
glue("ch05_bias_design", f"{reach_bias['states']} states, {reach_bias['draws']} draws each", display=False)
glue("ch05_bias_short", f"{short['mean_pair_distance_m'] * 1e3:.1f} mm apart on average, and "
                        f"{short['pairs_beyond_threshold']:.1%} of the pairs more than ε apart", display=False)
glue("ch05_bias_long", f"{long_['mean_pair_distance_m'] * 1e3:.1f} mm and {long_['pairs_beyond_threshold']:.1%} "
                       f"after {max(ch05.BIAS_HORIZONS)} steps", display=False)
glue("ch05_bias_trend", "the spread grows with the number of steps replayed, to"
     if long_["mean_pair_distance_m"] > short["mean_pair_distance_m"]
     else "the spread does not grow with the number of steps replayed:", display=False)
noise = ch05.RANDOMISATION[ch05.REACH]["observation_noise"]
glue("ch05_bias_noise", f"{noise * 1e3:g} mm, {noise / ch04.success_threshold():.0%} of ε", display=False)

# %% [markdown]
# On Reach ({glue:text}`ch05_bias_design`), two draws of the hidden damping that
# start from the same state and take the same action end
# {glue:text}`ch05_bias_short`; {glue:text}`ch05_bias_trend`
# {glue:text}`ch05_bias_long`. After one step the fraction is exactly the chance
# that a relabelled reward of 0 computed under one draw would have been $-1$
# under another. After several it is the chance that the same open-loop actions
# from the same state miss, by more than $\varepsilon$, a goal they reached under
# another draw: a proxy for the optimism that `future` relabelling adds to the
# value target (which bootstraps through the closed-loop policy), not its size.
# The observation noise of the randomised training, {glue:text}`ch05_bias_noise`,
# does not hide the gripper's position at all: the policy reads it exactly in
# `achieved_goal`, so the noise blurs only the velocities and the fingers.
#
# ### 3.7 A perturbation, seen
#
# The recording shows a Reach policy of Chapter 4 under an action delay of
# {glue:text}`ch05_video_delay` control steps: every commanded motion arrives that
# many steps late.

# %%
delay = robustness.family("action delay")
video_seeds = [50_000 + i for i in range(budget.video_episodes)]
frames, reached = video.record_episodes(
    ch05.REACH, robustness.load_policy(reach_source), video_seeds, size=320,
    wrap=lambda env: delay.make(env, ch05.VIDEO_DELAY, ch05.NOISE_SEED))
glue("ch05_video_delay", f"{ch05.VIDEO_DELAY}", display=False)
display(video.video_html(video.write_mp4(frames, out / "robust_reach_delay.mp4", fps=video.control_fps(ch05.REACH)),
                         caption=f"Reach, training seed {reach_source.seed}, action delay {ch05.VIDEO_DELAY} steps, "
                                 f"episodes {video_seeds}: {sum(reached)} of {len(reached)} reached the goal."))

# %% [markdown]
# ## 4. Verification and Sanity Checks
#
# First, severity 0 is the identity for every family on both tasks: one episode
# under each family at severity 0 reproduces the bare environment's
# observations and rewards exactly.

# %%
def trace(env, steps=15):
    observation, _ = env.reset(seed=123)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, 4)).astype(np.float32)
    rows = [np.concatenate([observation[k] for k in sorted(observation)])]
    for action in actions:
        observation, reward, *_ = env.step(action)
        rows.append(np.concatenate([*(observation[k] for k in sorted(observation)), [reward]]))
    env.close()
    return rows


for env_id in env_ids:
    bare = trace(make_fetch_env(env_id))
    for family in robustness.families_for(env_id):
        wrapped = trace(family.make(make_fetch_env(env_id), 0, ch05.NOISE_SEED))
        assert all(np.array_equal(a, b) for a, b in zip(bare, wrapped)), (env_id, family.name)
"severity 0 is the identity for every family"

# %% [markdown]
# Second, physical changes are undone: after a perturbed environment closes,
# every model field it touched holds its nominal value again.

# %%
env = make_fetch_env(ch05.PUSH)
model = env.unwrapped.model
before = {name: getattr(model, name).copy() for name in ("geom_friction", "body_mass", "body_inertia", "dof_damping")}
for field in perturb.PHYSICS_FIELDS:
    shifted = perturb.PhysicsShift(env, field, 2.0)
    shifted.reset(seed=0)
    shifted.restore()
assert all(np.array_equal(getattr(model, name), value) for name, value in before.items())
env.close()
"physics restored"

# %% [markdown]
# Third, the grid is complete and the nominal point agrees with Chapter 4: every
# curve has the profile's number of severities, every point pools
# {glue:text}`ch05_point_episodes` episodes, and on each task
# the nominal success measured here on new episodes has a Wilson interval that
# overlaps Chapter 4's. The randomised runs differ from Chapter 4's only in the
# randomisation fields.

# %%
for label, (env_id, sources) in measured.items():
    for family in robustness.families_for(env_id):
        curve = curves[label][family.key]
        assert [p["severity"] for p in curve] == list(robustness.grid(family, budget.severities)), (label, family.name)
        assert all(p["episodes"] == len(sources) * ch05.episodes_per_policy(sources, budget) == point_episodes
                   for p in curve), (label, family.name)
for env_id in env_ids:
    here = curves[task_name(env_id)][robustness.FAMILIES[0].key][0]
    there = chapter4_final[env_id]
    assert here["ci95_low"] <= there["ci95_high"] and there["ci95_low"] <= here["ci95_high"], (env_id, here, there)
for (env_id, s), config in randomised_plan.items():
    nominal = SacHerConfig.from_dict(next(p.config for p in policies[env_id] if p.seed == s)).as_dict()
    changed = {k for k, v in config.as_dict().items() if nominal[k] != v}
    assert changed == {"observation_noise", "physics_ranges"}, changed
"grid complete, nominal point consistent with Chapter 4, randomised runs differ only in randomisation"

# %% [markdown]
# ## 5. Deliverables

# %%
def curve_record(label):
    env_id, sources = measured[label]
    return {"env_id": env_id, "training": "randomised" if "randomised" in label else "nominal",
            "seeds": [s.seed for s in sources],
            "run_dirs": [os.path.relpath(s.run_dir, results / profile) for s in sources],
            "curves": curves[label], "summaries": summaries[label]}


write_deliverable(out, "robustness_results.json", {
    "budget": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(budget).items()},
    "eval_seed_base": robustness.ROBUSTNESS_SEED_BASE, "noise_seed": ch05.NOISE_SEED,
    "families": ch05.family_table(env_ids, budget),
    "policies": {label.lower().replace(", ", "_"): curve_record(label) for label in measured},
    "randomisation": {"settings": {e: {"observation_noise": ch05.RANDOMISATION[e]["observation_noise"],
                                       "physics_ranges": [list(r) for r in ch05.RANDOMISATION[e]["physics_ranges"]]}
                                   for e in budget.dr_tasks},
                      "cost": cost_rows,
                      "configs": {f"{e}-seed{s}": c.as_dict() for (e, s), c in randomised_plan.items()},
                      "curves": {f"{e}-seed{s}": r.curve for (e, s), r in randomised.items()}},
    "fragile_features": fragile_features.reset_index().to_dict("records"),
    "video": {"file": "robust_reach_delay.mp4", "policy_seed": reach_source.seed, "family": delay.name,
              "severity": ch05.VIDEO_DELAY, "episodes": video_seeds, "successes": int(sum(reached))},
    "relabelling_bias": bias,
}, run)
glue("ch05_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
verified_table(results, profile, "ch05")

# %% [markdown]
# Under the {glue:text}`ch05_profile` profile the chapter took
# {glue:text}`ch05_wall_s` s. The randomised runs keep their checkpoints and
# curves under `runs/` in the chapter's results folder.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - Robustness is the function $R_\pi(\sigma)$ over a stated family and grid, not
#   a number; areas and half-success severities compare policies within one
#   family and grid, never one family with another (§1.1).
# - Where a perturbation enters the loop decides what it breaks: observation
#   noise evaluates the policy at states it is not in, latency breaks the Markov
#   property in $(s_t, g)$, a dynamics shift changes $P$, and a goal shift asks
#   the critic to extrapolate (§1.2).
# - Per-feature normalisation can make millimetres of observation noise matter:
#   the features of smallest spread amplify 1 mm by
#   {glue:text}`ch05_amplification` training standard deviations, which is
#   consistent with, though not shown to cause, the fall of the observation-noise
#   curve (§3.4).
# - Domain randomisation maximises an average, $J_p$, not a worst case; on Reach
#   it changed nominal success by {glue:text}`ch05_nominal_cost` (randomised
#   minus nominal): {glue:text}`ch05_nominal_cost_verdict` (§3.5).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - Families under which success halves within the grid: on Reach
#   {glue:text}`ch05_halves_reach`; on Push {glue:text}`ch05_halves_push` (§3.3).
# - Observation noise amplified by normalisation: {glue:text}`ch05_min_std_feature`
#   turns one millimetre of noise into {glue:text}`ch05_amplification` training
#   standard deviations, and on Reach success halves at
#   {glue:text}`ch05_obsnoise_half` (§3.4).
# - Push policies against Chapter 1's floor: their nominal success,
#   {glue:text}`ch05_push_nominal`, against {glue:text}`ch05_push_floor` for a
#   gripper that does not move, is {glue:text}`ch05_push_reading` (§3.3).
# - Optimistic relabelling under the hidden parameter: two draws of the hidden
#   damping from the same state and actions end {glue:text}`ch05_bias_short`; the
#   spread grows to {glue:text}`ch05_bias_long` (§3.6).
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch05.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch05` (or
# `make check CHAPTER=ch05`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 5.1 (implementation): an action-noise wrapper.** Actuators do not
# execute exactly what they are sent. Write the Gymnasium wrapper `ActionNoise(env,
# sigma, seed=0)` whose `action` method returns $a + \varepsilon$,
# $\varepsilon \sim \mathcal{N}(0, \sigma^2 I)$, kept inside the action box, from a
# generator seeded once. Where in the loop of §1.2 does this perturbation enter,
# and why does clipping make the effective noise smaller than $\sigma$ near the
# box's faces?
#
# :::{dropdown} Solution
# The wrapper sits between the policy and the simulator: the policy's observation
# and the success criterion are untouched, only the executed action changes (actuation
# noise in §1.2's loop $s_t \to o_t \to a_t \to s_{t+1}$, between $a_t$ and the physics). Clipping to $[-1, 1]$ maps every draw beyond a
# face onto it, so near a face the executed noise is truncated and biased toward
# the interior; the course's `gcrl.rl.perturb.ActionNoise` does the same, and the
# chapter's severities are the $\sigma$ before clipping.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch05.py
# :language: python
# :pyobject: ActionNoise
# ```
# :::
#
# **Problem 5.2 (derivation): Newcombe's interval of a difference.** Comparing
# two success rates, a domain-randomised policy against the nominal one (§3.5) or
# Chapter 7's two training arms, needs an interval of their difference. With $(l_a, u_a)$ and
# $(l_b, u_b)$ the two Wilson intervals, justify Newcombe's hybrid interval for
# $d = \hat p_a - \hat p_b$,
#
# $$
# \Big[d - \sqrt{(\hat p_a - l_a)^2 + (u_b - \hat p_b)^2},\;
#       d + \sqrt{(u_a - \hat p_a)^2 + (\hat p_b - l_b)^2}\Big],
# $$
#
# and write `newcombe_interval(successes_a, trials_a, successes_b, trials_b)`.
# When is it *not* the right interval for this chapter's comparisons?
#
# :::{dropdown} Solution
# For independent estimates, $\operatorname{Var}(\hat p_a - \hat p_b) =
# \operatorname{Var}\hat p_a + \operatorname{Var}\hat p_b$. Newcombe's method 10
# takes each rate's Wilson distances to its ends as that rate's (asymmetric)
# margins, and combines in quadrature the two that move $d$ the same way: $d$ is
# smallest when $p_a$ is low and $p_b$ high, hence $(\hat p_a - l_a)$ with
# $(u_b - \hat p_b)$. It inherits Wilson's good behaviour near 0 and 1, where the
# Wald difference interval fails. It assumes the two samples independent: two
# policies evaluated on the *same* episodes, as this chapter evaluates every point
# of a curve, are paired, and for paired outcomes an interval of the paired
# differences is the right one (and, when the outcomes agree often, narrower).
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch05.py
# :language: python
# :pyobject: newcombe_interval
# ```
# :::
#
# **Problem 5.3 (diagnosis): sensor noise on the commanded goal.** The stub's
# `noisy_observation` is meant to model noisy sensors on a Fetch observation.
# Under it, even a perfect policy fails more often than its sensing error
# explains. Run the check, read the symptom, repair.
#
# :::{dropdown} Solution
# The stub perturbs every key, `desired_goal` included. The desired goal is a
# *command*, known exactly to whoever issued it; no sensor measures it. Noise on
# it moves the target the policy aims at while success is still judged against
# the true goal (§1.1), so the policy is penalised for a perturbation that has no
# physical counterpart. The course's `ObservationNoise` perturbs the sensed state,
# and optionally the achieved goal, which *is* measured.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch05.py
# :language: python
# :pyobject: noisy_observation
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch05.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch05")
