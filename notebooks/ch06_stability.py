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
# # Chapter 6 — The Stability Question

# %% tags=["parameters", "remove-cell"]
# Parameters: papermill overrides these, and they are all the runner tells a chapter. Empty means, as
# in JupyterLab: the profile from $GCRL_PROFILE (else the default of gcrl.course.profiles), the results
# folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 1000  # the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones
results_root = ""
inputs_digest = "interactive"  # the runner's digest of the chapter's inputs: the key of its resumable training runs

# %% tags=["remove-input"]
import os
import inspect

import numpy as np
import pandas as pd
import yaml
from IPython.display import Markdown, display
from myst_nb import glue
from scipy import stats

from gcrl.analysis import plots, stability
from gcrl.chapters import ch06_stability as ch06
from gcrl.core.paths import training_runs
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl.envs import task_name

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch06", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# Every number in Chapters 2 to 5 came from a handful of training seeds, and a
# training seed is not a detail of the experiment: it fixes the network's
# initial weights, the exploration noise, the order of the replay samples and
# the goals the environment draws. A different seed is a different run, and a
# run's final success rate is one draw from a distribution over runs. This
# chapter makes that distribution the object of study. We state what an
# algorithm's performance is once training is treated as random; we show on the
# course's own runs how little a mean over three of them pins it down; and we
# adopt the estimators of Agarwal et al. {cite}`agarwal2021rliable`: the
# {term}`interquartile mean` with stratified-bootstrap confidence intervals, performance
# profiles, and the {term}`probability of improvement`. We then rerun the comparison the
# course has built towards, SAC with hindsight relabelling against the same
# learner without it and against PPO, with more seeds, and measure how
# sensitive SAC+HER is to its learning rate, batch size and relabelling ratio.
# The runs are trials of one sweep, defined in one file and executed on Ray,
# locally or on a cluster, resumable after an interruption. Finally we check
# that a run is a deterministic function of its seed on this machine, and what
# breaks that.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 A training run is a random variable
#
# Fix an algorithm $\mathfrak{A}$ (a fraktur letter: $\mathcal{A}$ is the action
# space), a task $m$ and a budget of $L$ environment steps. Training draws a seed $\omega$, and everything random in the run
# (initial parameters, exploration, sampled minibatches, the environment's
# initial states and goals) is a function of it. The trained policy
# $\pi_\omega$ is therefore random, and so is its score
#
# $$
# X_m(\omega) = \Pr\big[\text{success} \mid \pi_\omega, \text{task } m\big] \in [0, 1].
# $$
#
# The quantity a claim about $\mathfrak{A}$ should describe is the *distribution*
# of $X_m$ over seeds, not one draw of it. We observe it twice removed: through
# $N$ training runs, and for each run through an estimate
# $\hat X_m(\omega_i)$ of its success from $n$ evaluation episodes. A
# study with $N$ runs on each of $M$ tasks produces an $N \times M$ matrix of
# scores, and every claim below is a statistic of that matrix.
#
# ### 1.2 Why the mean over three seeds misleads
#
# The sample mean $\bar X = \frac1N \sum_{i=1}^{N} \hat X(\omega_i)$ is unbiased for
# $\mathbb{E}[X]$, but three properties of deep RL make it a poor summary at
# $N = 3$.
#
# *Its variance is large.* $\operatorname{Var}\bar X = \operatorname{Var}\hat X / N$, and a
# Student interval with $N - 1 = 2$ degrees of freedom multiplies the standard
# error by $t_{0.975, 2} \approx 4.30$, not the familiar $1.96$: three runs
# give an interval more than twice as wide as the normal approximation
# suggests, before anything else goes wrong.
#
# *Run outcomes are often bimodal.* Goal-conditioned runs tend to either learn
# the task or stay at the random-action floor. If a fraction $q$ of seeds
# fails, three seeds contain no failure with probability $(1 - q)^3$: at
# $q = 0.2$ that is $0.51$, so half of all three-seed studies would report
# a method that never fails, and the other half a much lower mean. The mean of
# a bimodal variable also describes no run that actually occurs.
#
# *Selection turns noise into bias.* When several configurations or methods are
# run with three seeds each and the best is reported, the reported mean is the
# maximum of noisy estimates, and its expectation exceeds the truth by an
# amount that grows with the noise.
#
# Section 3.3 shows the first two effects on this chapter's runs, by the lowest
# and highest mean over any three of their seeds.
#
# ### 1.3 The interquartile mean
#
# Pool the $NM$ scores of a study and sort them, $x_{(1)} \le \dots \le
# x_{(NM)}$. The interquartile mean discards the lowest and highest quarter and
# averages the rest. rliable computes it with `scipy.stats.trim_mean` and a
# proportion of 0.25, which removes $c = \lfloor NM/4 \rfloor$ whole scores from
# each end, without fractional weights:
#
# $$
# \operatorname{IQM} = \frac{1}{NM - 2c} \sum_{j = c + 1}^{NM - c} x_{(j)},
# \qquad c = \lfloor NM/4 \rfloor ,
# $$
#
# which is the mean of the middle half exactly when $NM$ is a multiple of four;
# with five runs it is the mean of the middle three. The IQM is a compromise
# between two failures. The mean uses every run, so a few runs that failed, for
# reasons that have little to do with the method, pull it far from what a
# typical run achieves; for scores in $[0, 1]$ one run moves it by at most $1/N$,
# which is still 0.2 at $N = 5$. The median resists such runs but uses one or two
# scores and so has a large variance at small $N$. The IQM ignores up to a quarter
# of the runs on either side while averaging the middle half; on the Atari 100k
# benchmark Agarwal et al. find its bootstrap intervals narrower than the
# median's for the same number of runs. We also report the
# mean, rliable's median, which is the median over tasks of each task's mean
# score (with a single task it equals the mean, and it is a robust summary only
# across many tasks), and the *optimality gap* $\frac1{NM}\sum \max(0, 1 -
# x_{i,m})$, the average shortfall from a success rate of one.
#
# ### 1.4 Stratified bootstrap confidence intervals
#
# An interval for an aggregate $\varphi$ of the score matrix is not well served by
# a textbook formula: trimmed-mean $t$ intervals exist, but they rest on
# approximations that a bounded, often bimodal variable at a handful of runs
# does not support. The bootstrap replaces the formula by simulation:
# draw $B$ replicate matrices by resampling runs with replacement, compute
# $\varphi$ on each, and take the 2.5th and 97.5th percentiles of the $B$
# values. *Stratified* means the resampling happens within each task: a
# replicate keeps $N$ runs of every task, because the tasks are the fixed
# design of the study and only the runs are random. With one task, as in the
# standard profile, this is the ordinary bootstrap over runs. The percentile
# interval is only as good as the empirical distribution is representative, so
# at a handful of runs ({glue:text}`ch06_seeds` here) it is an honest statement of
# what those runs can tell, not a guarantee of 95% coverage; it tends to be too narrow when all runs agree, a
# case in which it collapses to a point and should be read as "no run
# disagreed", not as certainty.
#
# ### 1.5 Performance profiles
#
# An aggregate reduces the score distribution to one number. The *performance
# profile* keeps all of it: for every threshold $\eta$,
#
# $$
# \hat F(\eta) = \frac{1}{NM} \sum_{i, m} \mathbb{1}\big[\hat X_m(\omega_i) > \eta\big],
# $$
#
# the fraction of runs that score above $\eta$, an empirical tail
# distribution. If one algorithm's profile lies above another's for every
# $\eta$, the first *stochastically dominates* the second: whatever threshold
# a reader cares about, a run of the first is at least as likely to clear it.
# Crossing profiles say that the ranking depends on the threshold, which no
# single aggregate can reveal. The area under $\hat F$ is the mean score, so the
# profile refines the mean rather than competing with it.
#
# ### 1.6 The probability of improvement
#
# Aggregates compare algorithms by the size of their scores; the probability of
# improvement compares them by how often one wins:
#
# $$
# P(X > Y) = \frac1M \sum_{m=1}^{M} \Big(\Pr\big[X_m > Y_m\big]
#          + \tfrac12 \Pr\big[X_m = Y_m\big]\Big),
# $$
#
# where $X_m$ and $Y_m$ are independent runs of the two algorithms on task $m$.
# Its estimate is the Mann-Whitney statistic $U / (N_X N_Y)$, the fraction of
# the $N_X N_Y$ pairs of runs that $X$ wins, ties counting one half. It is
# invariant to any strictly increasing transformation of the scores, so it does not care
# whether success is measured as a rate or a log-odds, and it answers a
# question a practitioner asks: if I train one run of each, how likely is $X$
# to come out ahead? A value of $0.5$ means no detectable ordering; an interval
# that excludes $0.5$ is evidence of one. It says nothing about the *size* of
# the difference, which is why it complements the IQM rather than replacing it.
#
# ### 1.7 Three sources of variation
#
# A reported success rate varies for three different reasons, and they answer
# different questions.
#
# 1. *Evaluation episodes.* A run's success $\hat X$ is estimated from $n$
#    episodes; given the policy, and for episodes drawn afresh, the estimate is
#    binomial, with standard deviation $\sqrt{X(1 - X)/n}$. More episodes shrink it
#    to zero without changing the policy.
# 2. *Training seeds.* Different seeds give different policies. This variation
#    is a property of the algorithm on the task, and no amount of evaluation
#    removes it; only more runs estimate it better.
# 3. *Hyperparameters.* Different settings give different score distributions.
#    This is a property of the algorithm *and* the tuning effort spent on it.
#
# The law of total variance ties the first two together. Were every run scored on
# its own fresh episodes, across runs
# $\operatorname{Var}\hat X = \mathbb{E}[X(1-X)/n] + \operatorname{Var}X$, and the
# spread of estimated run scores would overstate the seed-to-seed spread by the
# average binomial variance. The course scores every run on the *same* fixed
# episodes, so part of the evaluation error is shared: a set of hard goals lowers
# every run alike and does not spread them apart. Write the score of run $i$ on
# episode $e$ as $S_{ie} = \bar S + u_i + b_e + z_{ie}$, with a grand mean $\bar S$, a run effect $u_i$
# (the seed), an episode effect $b_e$ common to all runs, and an interaction
# $z_{ie}$. A run's estimate is its mean over the $n$ episodes, and across
# runs
#
# $$
# \operatorname{Var}\hat X = \operatorname{Var} u + \operatorname{Var} z / n :
# $$
#
# the shared effect $b$ cancels, and only the interaction inflates the spread.
# The residual mean square of the runs-by-episodes table estimates
# $\operatorname{Var} z$, so the seed-to-seed variance is estimated by
# subtracting its $n$-th part from the observed spread (floored at zero). The
# same argument corrects the spread across hyperparameter settings, each of whose
# means carries the seed and episode variance of its runs divided by their
# number. Section 3.5 measures all three sources for SAC+HER on
# {glue:text}`ch06_sens_task`; the third is the subject of Section 3.4.
#
# ### 1.8 Stability, continuity and determinism
#
# We call a result *stable* when it depends continuously on the training
# process: a small change of a hyperparameter, or a different seed, moves the
# score distribution by a small amount. A hyperparameter is *knife-edge* when a
# modest change of it (here {glue:text}`ch06_factors`) destroys much of the
# performance; a result obtained at a knife-edge setting is a fact about that
# setting, not about the method. We test this one parameter at a time around
# the recipe, which detects sensitivity along each axis but not interactions
# between them.
#
# Determinism is the degenerate case of continuity: the same seed, on the same
# hardware and software, must give the same run, bit for bit. It does not make a
# result robust, but it makes it *attributable*: when two runs differ, the
# difference has a cause in their inputs, and an interrupted run that resumes
# from a checkpoint is the run it would have been. Floating-point addition is
# not associative, so anything that changes the order of a reduction (the
# number of threads a matrix product is split across, a different BLAS kernel,
# the atomic additions of some GPU kernels) may change the last bits of a
# result, and through the training dynamics those bits can grow.

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - a run's score, a random variable of its seed:
#   $X_m(\omega) = \Pr\big[\text{success} \mid \pi_\omega, \text{task } m\big] \in [0, 1]$ (§1.1)
# - the variance of a mean over $N$ runs: $\operatorname{Var}\bar X = \operatorname{Var}\hat X / N$ (§1.2)
# - the interquartile mean of the $NM$ pooled scores:
#   $\operatorname{IQM} = \frac{1}{NM - 2c} \sum_{j = c + 1}^{NM - c} x_{(j)}$, with $c = \lfloor NM/4 \rfloor$ (§1.3)
# - the performance profile:
#   $\hat F(\eta) = \frac{1}{NM} \sum_{i, m} \mathbb{1}\big[\hat X_m(\omega_i) > \eta\big]$ (§1.5)
# - the probability of improvement:
#   $P(X > Y) = \frac1M \sum_{m=1}^{M} \Big(\Pr\big[X_m > Y_m\big] + \tfrac12 \Pr\big[X_m = Y_m\big]\Big)$ (§1.6)
# - the spread of run scores on shared episodes:
#   $\operatorname{Var}\hat X = \operatorname{Var} u + \operatorname{Var} z / n$ (§1.7)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# ### 2.1 One sweep
#
# All of the chapter's runs are defined in one sweep per profile, kept with every
# other budget in `gcrl.course.profiles`. Under the {glue:text}`ch06_profile`
# profile it is the sweep below; `gcrl sweep --chapter ch06 --print` writes it out
# as a sweep file that a reader can edit and run with `gcrl sweep FILE`:

# %%
glue("ch06_profile", profile, display=False)
spec = ch06.sweep_spec(budget)
sweep_text = yaml.safe_dump(spec.as_dict(), sort_keys=False)
print(sweep_text)

# %% [markdown]
# A *group* is one algorithm on one task. The `comparison` groups run the
# book's SAC+HER with the recipe of Chapter 4, the same code with relabelling
# switched off ($k = 0$, so the two differ in nothing else), and Stable-Baselines3's
# PPO with Chapter 2's recipe. The two SAC variants share a budget and an
# evaluation grid; PPO gets {glue:text}`ch06_ppo_budget`. The `sensitivity` group varies one
# parameter of SAC+HER's recipe at a time; {glue:text}`ch06_shared`. Every
# configuration runs on every seed of the file, offset by the chapter's master
# seed; the table lists the trials.

# %%
trials = spec.trials(seed_offset=seed)
plan = pd.DataFrame([{"group": t.group, "configuration": t.label, "algorithm": t.algo, "task": task_name(t.env_id),
                      "env steps": t.build().total_steps, "trial": t.folder_name} for t in trials])
unique_trials = plan.trial.nunique()
glue("ch06_seeds", f"{len(spec.seeds)}", display=False)
glue("ch06_trials", f"{unique_trials}", display=False)
for key, text in ch06.plan_text(spec, trials).items():
    glue(f"ch06_{key}", text, display=False)
plan.groupby(["group", "configuration", "algorithm", "task", "env steps"], sort=False).size().rename("seeds").to_frame()

# %% [markdown]
# The sweep has {glue:text}`ch06_trials` distinct trials of
# {glue:text}`ch06_seeds` seeds each. Evaluation is Chapter 2's protocol: the
# deterministic policy on a fixed set of held-out episodes, the same for every
# run, so that two runs' scores differ only through their policies.
#
# ```{note}
# {glue:text}`ch06_scope`
# ```

# %% [markdown]
# ## 3. Implementation Details

# %% [markdown]
# :::{admonition} Procedure: comparing algorithms over seeds
# :class: note
#
# 1. *Trials.* Train every algorithm on every task with each of the $N$ seeds
#    of the sweep, one trial per folder; a complete trial is read back, not
#    retrained (§3.1).
# 2. *Score matrix.* Score each trained policy by its final success on the
#    same fixed held-out episodes, $\hat X_m(\omega_i)$, which gives one
#    $N \times M$ matrix per algorithm (§1.1).
# 3. *IQM with {term}`stratified bootstrap`.* Compute the IQM of each matrix (beside the
#    mean, the median and the optimality gap); draw $B$ replicate matrices by
#    resampling the $N$ runs with replacement within each task, recompute, and
#    report the 2.5th and 97.5th percentiles, the resampling seeded (§1.3, §1.4,
#    §3.2).
# 4. *Profiles.* Evaluate $\hat F(\eta)$ on a grid of thresholds $\eta$, with
#    stratified-bootstrap bands (§1.5).
# 5. *Probability of improvement.* For each pair $(X, Y)$, estimate $P(X > Y)$
#    as the fraction of the $N_X N_Y$ pairs of runs that $X$ wins, ties counting
#    one half, with its bootstrap interval; an interval that excludes $0.5$
#    orders the pair (§1.6).
#
# The sensitivity study of §3.4 applies steps 3 and 5 to the area under each
# run's learning curve instead of its final success.
# :::

# %% [markdown]
# ### 3.1 Trials on Ray, resumable
#
# A trial is built and trained like every run of the course, through the one
# learner interface (`gcrl.rl.learners.make_config`, then `gcrl.rl.learners.train`),
# into its own folder, with the same checkpoints, curve and provenance. Its folder is named by a hash of its
# full configuration, so a trial that two groups share is trained once, and a
# trial is complete only when its folder holds metrics recorded for exactly
# that configuration:

# %%
print(ch06.completion_rule())

# %% [markdown]
# `run_sweep` reads complete trials back and hands the rest to Ray, one torch
# thread per trial and as many CPUs as the trial keeps busy (two for a Push
# trial, whose collector runs in a process of its own), longest first. Without an address, Ray starts
# embedded on this machine with one worker per core and stops afterwards; with
# an address (`GCRL_RAY_ADDRESS`, or `gcrl sweep --address`) it joins an
# existing cluster, ships the `gcrl` package to the workers and requires the
# results folder on a filesystem the nodes share. When a GPU is present each
# trial requests an equal fraction of it, so that the trials that use it
# (Stable-Baselines3's) share one device instead of queueing for it. An
# interrupted sweep resumes when run again: complete trials are skipped and the
# others continue from their last checkpoint.

# %%
outcome = ch06.train_sweep(spec, training_runs(out, inputs_digest), run, seed)
glue("ch06_trained", f"{len(outcome.trained)}", display=False)
glue("ch06_reused", f"{len(outcome.reused)}", display=False)
glue("ch06_backend", outcome.backend, display=False)
comparison = outcome.group(ch06.COMPARISON)
tasks, scores = stability.score_matrices(comparison)
pd.DataFrame({label: matrix[:, 0] for label, matrix in scores.items()},
             index=pd.Index(np.array(spec.seeds) + seed, name="seed")).style.format("{:.2f}").set_caption(
    f"Final success rate of every run on {task_name(tasks[0])}")

# %% [markdown]
# This execution trained {glue:text}`ch06_trained` trials and read
# {glue:text}`ch06_reused` back ({glue:text}`ch06_backend`). The table holds
# the score matrix of the comparison on its first task: one row per seed,
# each entry a final success rate on the held-out episodes.
#
# ### 3.2 Aggregates with rliable
#
# The aggregates, intervals, profiles and probabilities are rliable's. Every
# interval printed here must be reproducible, and that takes more than passing
# rliable a seeded `random_state`: its stratified bootstraps draw their
# resampling indices from NumPy's global generator and ignore the one they are
# given, so the wrapper also seeds the global generator for the duration of the
# call and restores it afterwards. Section 4 recomputes the intervals and
# demands the same digits.

# %%
print(inspect.getsource(stability.interval_estimates))

# %% [markdown]
# ### 3.3 SAC+HER, SAC without HER and PPO

# %%
reps = budget.bootstrap_reps
estimates = stability.interval_estimates(scores, reps)
improvements = stability.probability_of_improvement(scores, ch06.PAIRS, reps)
profiles = stability.performance_profiles(scores, ch06.TAUS, reps)
efficiency = {task_name(env_id): stability.sample_efficiency(
    {label: [r.curve for r in per_task[env_id]] for label, per_task in comparison.items()}, reps) for env_id in tasks}


def interval_text(e):
    return f"{e['estimate']:.2f} [{e['ci95'][0]:.2f}, {e['ci95'][1]:.2f}]"


aggregate_table = pd.DataFrame({label: {metric: interval_text(e[metric]) for metric in stability.AGGREGATES}
                                for label, e in estimates.items()}).T
glue("ch06_reps", f"{reps:,}", display=False)
glue("ch06_episodes", f"{comparison[ch06.RECIPE][tasks[0]][0].metrics['final']['episodes']}", display=False)
glue("ch06_tasks", ", ".join(task_name(e) for e in tasks), display=False)
for label, key in ((ch06.RECIPE, "recipe"), (ch06.NO_HER, "noher"), (ch06.PPO, "ppo")):
    glue(f"ch06_iqm_{key}", interval_text(estimates[label]["IQM"]), display=False)
aggregate_table

# %% [markdown]
# Each entry is a point estimate with its 95% stratified-bootstrap interval
# ({glue:text}`ch06_reps` replicates) over {glue:text}`ch06_seeds` runs per
# algorithm on {glue:text}`ch06_tasks`, each run scored by its final success at
# its own budget. The IQM of final success is {glue:text}`ch06_iqm_recipe` for
# SAC+HER, {glue:text}`ch06_iqm_noher` for the same learner without relabelling,
# and {glue:text}`ch06_iqm_ppo` for PPO ({numref}`fig-ch06-aggregates`).

# %%
fig = plots.interval_estimates(estimates, stability.AGGREGATES)
plots.publish(fig, out / "aggregate_intervals.png", "ch06_aggregates_fig")
fig = plots.probability_of_improvement(improvements)
plots.publish(fig, out / "probability_of_improvement.png", "ch06_poi_fig")
for key, p in improvements.items():
    index = ch06.PAIRS.index((p["x"], p["y"]))
    glue(f"ch06_poi_{index}", interval_text(p), display=False)
    glue(f"ch06_poi_{index}_verdict", ch06.order_text(p), display=False)
pd.DataFrame({key: {"P(X > Y)": interval_text(p)} for key, p in improvements.items()}).T

# %% [markdown]
# ```{glue:figure} ch06_aggregates_fig
# :name: fig-ch06-aggregates
#
# The four aggregates of the final success of {glue:text}`ch06_seeds` runs per
# algorithm on {glue:text}`ch06_tasks` ({glue:text}`ch06_episodes` fixed episodes
# per run): point estimates with their 95% stratified-bootstrap intervals
# ({glue:text}`ch06_reps` replicates).
# ```
#
# ```{glue:figure} ch06_poi_fig
# :name: fig-ch06-poi
#
# The probability that a run of the first algorithm of a pair scores higher than
# a run of the second (ties count one half), from the {glue:text}`ch06_seeds` ×
# {glue:text}`ch06_seeds` pairs of runs, with its 95% stratified-bootstrap
# interval; the dashed line marks 0.5.
# ```
#
# The probability of improvement orders the algorithms pair by pair
# ({numref}`fig-ch06-poi`): $P(\text{SAC+HER} > \text{SAC, no HER})$ is
# {glue:text}`ch06_poi_0`, {glue:text}`ch06_poi_0_verdict`, and
# $P(\text{SAC+HER} > \text{PPO})$ is {glue:text}`ch06_poi_1`,
# {glue:text}`ch06_poi_1_verdict`. An interval that excludes 0.5 orders the pair,
# whatever the size of the gap.

# %%
fig = plots.performance_profiles(profiles)
plots.publish(fig, out / "performance_profiles.png", "ch06_profiles_fig")
fig = plots.sample_efficiency(efficiency)
plots.publish(fig, out / "sample_efficiency.png", "ch06_efficiency_fig")

# %% [markdown]
# ```{glue:figure} ch06_profiles_fig
# :name: fig-ch06-profiles
#
# Performance profiles: the fraction of the {glue:text}`ch06_seeds` runs of each
# algorithm whose final success exceeds the threshold $\eta$, with 95%
# stratified-bootstrap bands.
# ```
#
# ```{glue:figure} ch06_efficiency_fig
# :name: fig-ch06-efficiency
#
# Sample efficiency: the IQM of success across the {glue:text}`ch06_seeds` runs of
# each algorithm at every evaluation, against environment steps, with pointwise
# 95% bootstrap bands (the runs are resampled afresh at each evaluation).
# ```
#
# The {term}`performance profiles <performance profile>` ({numref}`fig-ch06-profiles`) show the whole score
# distribution of each algorithm, and the sample-efficiency curves
# ({numref}`fig-ch06-efficiency`) show how each got there: two algorithms with the
# same final score may differ in how early they reached it.

# %% [markdown]
# **What three seeds would have said.** The table lists, for each algorithm,
# the smallest and largest mean over any three of its runs, and how many of the
# three-run subsets there are. Under the hypothesis that all runs of an
# algorithm are exchangeable, each subset is a study another reader could have
# published.

# %%
three_seed = {label: ch06.subset_means(matrix) for label, matrix in scores.items()}
three_seed_table = pd.DataFrame({label: {"subsets": len(m), "lowest 3-seed mean": min(m),
                                         "highest 3-seed mean": max(m), "mean of all runs": float(scores[label].mean())}
                                 for label, m in three_seed.items()}).T
glue("ch06_three_seed_reading", ch06.three_seed_text(three_seed), display=False)
three_seed_table.astype({"subsets": int}).round(3)

# %% [markdown]
# {glue:text}`ch06_three_seed_reading`
#
# ### 3.4 Sensitivity of SAC+HER

# %%
sens = ch06.sensitivity(outcome, reps, seed=0)
rows = {label: {"IQM area": interval_text(r["area"]["IQM"]), "IQM final": interval_text(r["final"]["IQM"]),
                "P(recipe > variant)": interval_text(r["p_recipe_better"]) if "p_recipe_better" in r else "",
                "effect": r.get("effect", "recipe")} for label, r in sens["configurations"].items()}
glue("ch06_sens_task", sens["task"], display=False)
for parameter, verdict in sens["verdicts"].items():
    glue(f"ch06_verdict_{parameter}", verdict, display=False)
pd.DataFrame(rows).T

# %% [markdown]
# The score of the sensitivity study is the area under each run's learning
# curve, its mean success over the evaluations, because at the end of the
# {glue:text}`ch06_sens_task` budget several configurations may succeed everywhere,
# and a final score at the ceiling cannot tell a configuration that learned by
# the first evaluation ({glue:text}`ch06_first_eval` environment steps) from one
# that needed the whole budget ({glue:text}`ch06_sens_budget`). "P(recipe >
# variant)" is the probability that a run of the recipe has the larger area; a
# variant is *worse* when that interval lies above 0.5 and *better* when it lies
# below. A parameter is *not shown sensitive* when every tried value is within
# noise of the recipe: no change was detected, which with this many runs per
# value does not show that the change was small, so §1.8's *stable* is not
# claimed,
# *knife-edge* when one value is worse by more than half of the recipe's IQM
# area, and *sensitive* otherwise, whether the value that differs is worse or
# better. Over the tried values the learning rate is
# {glue:text}`ch06_verdict_learning_rate`, the batch size
# {glue:text}`ch06_verdict_batch_size` and the number of relabelled goals $k$
# {glue:text}`ch06_verdict_n_sampled_goal` ({numref}`fig-ch06-sensitivity`). These
# are {glue:text}`ch06_comparisons` comparisons, each at 95% and none corrected
# for the others, on {glue:text}`ch06_seeds` runs each: one verdict of *worse*
# or *better* among them is weaker evidence than its own interval suggests.

# %%
fig = plots.sensitivity(sens["configurations"], sens["recipe"])
plots.publish(fig, out / "sensitivity.png", "ch06_sensitivity_fig")
recipe_curve = outcome.group(ch06.SENSITIVITY)[ch06.RECIPE][sens["env_id"]][0].curve
glue("ch06_first_eval", f"{recipe_curve[0]['env_steps']:,}", display=False)
glue("ch06_sens_budget", f"{recipe_curve[-1]['env_steps']:,}", display=False)
glue("ch06_comparisons", f"{len(sens['configurations']) - 1}", display=False)

# %% [markdown]
# ```{glue:figure} ch06_sensitivity_fig
# :name: fig-ch06-sensitivity
#
# Sensitivity of SAC+HER on {glue:text}`ch06_sens_task`, one panel per varied
# parameter: the IQM of the area under the learning curve (mean success over the
# evaluations) of {glue:text}`ch06_seeds` runs per value, with its 95%
# stratified-bootstrap interval as the error bar; the recipe's value is marked.
# ```

# %% [markdown]
# ### 3.5 Where the variation comes from
#
# The table separates the three sources of Section 1.7 for SAC+HER on
# {glue:text}`ch06_sens_task`, for both scores: the standard error of one run's
# score from its evaluation episodes (computed from the episodes themselves:
# the evaluations of a run share their episodes, so they are not independent
# draws), its error against fresh episodes; the part of that error that does
# not cancel between runs scored on the same episodes, $\sqrt{\operatorname{Var}
# z / n}$ of §1.7, the only part that widens a comparison of runs and the one
# the reading below weighs against the seeds; the standard deviation across the recipe's seeds, as observed and as
# corrected by the law of total variance of §1.7; and the standard deviation
# across the sensitivity configurations of their mean score, as observed and
# corrected for the seed and episode noise each mean carries.

# %%
variation = pd.DataFrame(sens["variation"]).T.rename(columns={"final": "final success", "area": "mean success over the curve"})
glue("ch06_sd_seeds_area", f"{sens['variation']['training seeds']['area']:.3f}", display=False)
glue("ch06_sd_episodes_area", f"{sens['variation']['evaluation episodes']['area']:.3f}", display=False)
glue("ch06_sd_hyper_area", f"{sens['variation']['hyperparameters']['area']:.3f}", display=False)
glue("ch06_sd_seeds_area_observed", f"{sens['variation']['training seeds (observed)']['area']:.3f}", display=False)
glue("ch06_variation_reading", ch06.variation_text(sens["variation"]), display=False)
variation.round(3)

# %% [markdown]
# For the area under the curve, the spread across seeds is
# {glue:text}`ch06_sd_seeds_area` once corrected ({glue:text}`ch06_sd_seeds_area_observed`
# as observed), the evaluation noise of one run {glue:text}`ch06_sd_episodes_area`,
# and the spread across the tried hyperparameters {glue:text}`ch06_sd_hyper_area`.
# {glue:text}`ch06_variation_reading` A comparison of two methods is only as good
# as the care taken to tune each, which is why the comparison above gives both
# SAC variants the same recipe and changes one thing.
#
# ### 3.6 Determinism
#
# The check trains a short run of the Reach recipe three times, each in a fresh
# process: twice with identical settings, and once with two torch threads
# instead of one. It compares the SHA-256 of the trained parameters' bytes and
# the learning curves.

# %%
determinism = stability.determinism_check(ch06.determinism_config(budget), out / "determinism")
det_table = pd.DataFrame([{"run": i, "torch threads": r["threads"], "parameters SHA-256": r["parameters_sha256"][:16],
                           "same parameters as run 0": r["identical_parameters"], "same curve": r["identical_curve"]}
                          for i, r in enumerate(determinism["runs"])]).set_index("run")
glue("ch06_det_steps", f"{budget.determinism_env_steps:,}", display=False)
glue("ch06_det_repeatable", "bit-identical" if determinism["repeatable"] else "NOT identical", display=False)
threads_matter = not determinism["runs"][2]["identical_parameters"]
glue("ch06_det_threads", "different in its parameters" if threads_matter else "also bit-identical", display=False)
glue("ch06_det_reading",
     "The thread count alone changed the trained parameters, which is why every trial of the sweep runs with "
     "one thread whatever the number of trials at once: its numbers are then a function of its seed and "
     "configuration alone, and not of how busy the machine was." if threads_matter else
     "At these network sizes the thread count did not change a single bit. The sweep still runs every trial "
     "with one thread, whatever the number of trials at once, because with wider networks or another BLAS "
     "build a matrix product may be split differently across threads, and a trial's numbers must not depend "
     "on how busy the machine was.", display=False)
glue("ch06_device", run.snapshot()["device"]["name"], display=False)
det_table

# %% [markdown]
# Two runs of {glue:text}`ch06_det_steps` env steps with the same seed and
# settings on {glue:text}`ch06_device` are {glue:text}`ch06_det_repeatable`;
# the run with two threads is {glue:text}`ch06_det_threads`.
# {glue:text}`ch06_det_reading`
#
# ```{warning}
# The book's SAC+HER computes on the CPU, so this check does not exercise a GPU.
# On a GPU, bitwise repeatability is not guaranteed by default: some CUDA kernels
# (scatter and index additions, for instance) accumulate with atomic additions
# whose order is unspecified; cuBLAS is repeatable run to run on one GPU
# architecture and toolkit only with a fixed workspace configuration when
# several streams are in use; and cuDNN picks its algorithm by benchmarking when
# asked to (`torch.backends.cudnn.benchmark`). PyTorch's
# `torch.use_deterministic_algorithms(True)` with `CUBLAS_WORKSPACE_CONFIG=:4096:8`
# restores repeatability on one device and software stack, at some cost in speed;
# across GPU models or driver versions no such guarantee exists. A run's provenance records the device it
# ran on for this reason.
# ```

# %% [markdown]
# ## 4. Verification and Sanity Checks
#
# The checks below fail the chapter if they do not hold.
#
# 1. rliable's IQM equals a direct computation with `scipy.stats.trim_mean`, and
#    its mean equals NumPy's, on the chapter's own score matrices.
# 2. Every interval contains its point estimate, and the bootstrap is
#    reproducible: the same seed gives the same intervals.
# 3. Each performance profile is non-increasing in $\eta$, and its average over
#    a fine grid of thresholds approximates the mean score.
# 4. Running the sweep again trains nothing: every trial is read back.
# 5. Two runs with the same seed and settings are bit-identical.

# %%
for label, matrix in scores.items():
    assert np.isclose(estimates[label]["IQM"]["estimate"], stats.trim_mean(matrix.ravel(), 0.25)), label
    assert np.isclose(estimates[label]["Mean"]["estimate"], matrix.mean()), label
    for metric, e in estimates[label].items():
        assert e["ci95"][0] - 1e-9 <= e["estimate"] <= e["ci95"][1] + 1e-9, (label, metric)
assert stability.interval_estimates(scores, reps) == estimates, "the bootstrap is seeded"
for label, profile_ in profiles.items():
    assert np.all(np.diff(profile_["fraction"]) <= 1e-12), label
fine = stability.performance_profiles(scores, np.linspace(0, 1, 201)[:-1], reps=10)
for label, matrix in scores.items():
    assert abs(np.mean(fine[label]["fraction"]) - matrix.mean()) <= 0.005 + 1e-9, label
again = ch06.train_sweep(spec, training_runs(out, inputs_digest), run, seed)
assert not again.trained and len(again.reused) == unique_trials, "a rerun of the sweep reads every trial back"
assert determinism["repeatable"], "same seed, same settings, same machine: bit-identical runs"
print(f"all checks passed: {len(scores)} algorithms, {unique_trials} trials reused on rerun, determinism held")

# %% [markdown]
# ## 5. Deliverables

# %%
def trial_record(result):
    return {"run_dir": os.path.relpath(result.run_dir, results / profile), "seed": result.config.seed,
            "final": result.metrics["final"], "area": ch06.curve_area(result), "curve": result.curve}


write_deliverable(out, "stability_results.json", {
    "budget": {"sweep": spec.name, "bootstrap_reps": reps, "determinism_env_steps": budget.determinism_env_steps,
               "seeds": len(spec.seeds)},
    "sweep": {"name": spec.name, "text": sweep_text,
              "trials": unique_trials, "trained_now": len(outcome.trained), "reused": len(outcome.reused),
              "backend": outcome.backend},
    "comparison": {"tasks": tasks, "scores": {label: m.tolist() for label, m in scores.items()},
                   "aggregates": estimates, "probability_of_improvement": improvements,
                   "performance_profiles": profiles, "sample_efficiency": efficiency,
                   "three_seed_means": three_seed,
                   "runs": {label: {e: [trial_record(r) for r in rs] for e, rs in per_task.items()}
                            for label, per_task in comparison.items()}},
    "sensitivity": sens,
    "determinism": determinism,
}, run)
glue("ch06_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
verified_table(results, profile, "ch06")

# %% [markdown]
# Under the {glue:text}`ch06_profile` profile the chapter took
# {glue:text}`ch06_wall_s` s. `stability_results.json` holds every run's score
# and learning curve, so that a reader can recompute any aggregate of this
# chapter, or one of their own, without retraining; the trials' checkpoints
# stay under `runs/` in the chapter's results folder, and running
# `gcrl sweep` on the same file resumes or extends them.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - A training run is one draw from a distribution over seeds, and a claim
#   about an algorithm is a statistic of the $N \times M$ score matrix, to be
#   reported with its interval (§1.1).
# - A mean over three seeds has a wide interval, hides bimodal outcomes and,
#   when the best of several is reported, is biased upwards (§1.2); the IQM
#   ignores up to a quarter of the runs on either side while averaging the
#   middle half, and the stratified bootstrap resamples runs within each task
#   (§1.3, §1.4).
# - The aggregates, the profiles and the probability of improvement answer
#   different questions: how large, above which threshold, how often. Here the
#   IQM of final success is {glue:text}`ch06_iqm_recipe` for SAC+HER,
#   {glue:text}`ch06_iqm_noher` without relabelling and
#   {glue:text}`ch06_iqm_ppo` for PPO, and
#   $P(\text{SAC+HER} > \text{SAC, no HER})$ is {glue:text}`ch06_poi_0`,
#   {glue:text}`ch06_poi_0_verdict` (§3.3).
# - More evaluation episodes shrink only the evaluation noise; the spread
#   across seeds is a property of the algorithm on the task, and only more runs
#   estimate it better (§1.7, §3.5).
# - A run is a function of its seed only on a fixed device, software stack and
#   thread count; here two runs with the same seed and settings are
#   {glue:text}`ch06_det_repeatable` (§3.6).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - *Three-seed studies that disagree* (§3.3): every subset of three runs is a
#   study another reader could have published.
#   {glue:text}`ch06_three_seed_reading`
# - *Knife-edge hyperparameters* (§3.4): over the tried values the learning
#   rate is {glue:text}`ch06_verdict_learning_rate`, the batch size
#   {glue:text}`ch06_verdict_batch_size` and $k$
#   {glue:text}`ch06_verdict_n_sampled_goal`, each verdict from comparisons
#   not corrected for one another.
# - *Evaluation noise read as seed variance* (§3.5): the observed spread of the
#   recipe's area across seeds is {glue:text}`ch06_sd_seeds_area_observed`, and
#   {glue:text}`ch06_sd_seeds_area` once corrected as in §1.7.
# - *A thread count that changes the run* (§3.6): with two torch threads
#   instead of one, the run is {glue:text}`ch06_det_threads`.
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch06.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch06` (or
# `make check CHAPTER=ch06`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 6.1 (implementation): the interquartile mean.** Write `iqm(scores)`,
# the mean of the middle half of a set of run scores, as rliable defines it (sort,
# drop $\lfloor n/4 \rfloor$ from each end, average the rest; §1.3). What fraction
# of the runs can collapse to 0 without moving it more than the spread of the
# others?
#
# :::{dropdown} Solution
# Sorting and trimming $\lfloor n/4 \rfloor$ scores from each end is
# `scipy.stats.trim_mean(scores, 0.25)`, which rliable's `aggregate_iqm` calls. Any
# $\lfloor n/4 \rfloor$ runs may take any values (a collapsed seed at 0, an outlier
# at 1) and the IQM stays between the remaining quartiles: its breakdown point is
# 25%, against 0% for the mean and 50% for the median, whose variance is larger.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch06.py
# :language: python
# :pyobject: iqm
# ```
# :::
#
# **Problem 6.2 (implementation): the percentile bootstrap.** Write
# `bootstrap_interval(scores, statistic, reps, seed, confidence=0.95)`: draw `reps`
# resamples of the $n$ scores with replacement (numpy's `default_rng(seed)`),
# compute the statistic on each, and return the $\tfrac{1-c}{2}$ and $\tfrac{1+c}{2}$
# quantiles. The check records the resamples your function draws, and calls it with
# the median of eleven scores, whose bootstrap distribution is known exactly
# ($P(\text{median} \le x_{(k)}) = P(\mathrm{Binomial}(11, k/11) \ge 6)$), at
# several confidences. Why does rliable *stratify* the resampling by task (§1.4)?
#
# :::{dropdown} Solution
# The resamples' statistic approximates the sampling distribution of the
# statistic; its quantiles bound the estimate at the stated confidence
# (approximately: with 15 scores the percentile interval of a mean covers somewhat
# less than 95%). Stratifying resamples runs within each task, so that every
# replicate keeps the design's number of runs per task: an unstratified resample
# could draw one task's runs twice and another's not at all, mixing task
# difficulty into the interval's width.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch06.py
# :language: python
# :pyobject: bootstrap_interval
# ```
# :::
#
# **Problem 6.3 (derivation): the probability of improvement.** §1.6 defines
# $P(X > Y)$ between two algorithms from their runs. Show that its natural
# estimate, $\frac{1}{nm}\sum_{i,j}\big(\mathbb{1}[x_i > y_j] + \tfrac12\mathbb{1}[x_i = y_j]\big)$,
# is the Mann–Whitney $U$ statistic divided by $nm$, that it is unbiased for
# $\Pr[X > Y] + \tfrac12 \Pr[X = Y]$ (which is §1.6's $P(X > Y)$ for one task:
# there $P$ already counts ties half), and that the estimates of the two orders sum to 1;
# write `probability_of_improvement(x, y)`.
#
# :::{dropdown} Solution
# $U = \sum_{i,j} (\mathbb{1}[x_i > y_j] + \tfrac12 \mathbb{1}[x_i = y_j])$ counts
# the pairs in which $x$ wins, ties split; each term has expectation
# $\Pr[X > Y] + \tfrac12 \Pr[X = Y]$ for independent runs, so $U/(nm)$ is unbiased.
# Exchanging $x$ and $y$ turns each win into a loss and keeps each tie, so the two
# estimates sum to 1 and an algorithm against itself scores $\tfrac12$. Unlike a
# difference of means, it says how often one algorithm's run beats the other's,
# not by how much.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch06.py
# :language: python
# :pyobject: probability_of_improvement
# ```
# :::
#
# **Problem 6.4 (diagnosis): a run that its seed does not reproduce.** The stub's
# `seeded_generators` gives a run its numpy and torch generators. Two runs with one
# seed, on one machine, end with different parameters (§3.6 requires them equal).
# Run the check, read the symptom, repair.
#
# :::{dropdown} Solution
# `np.random.default_rng()` without an argument draws its seed from the operating
# system's entropy: every call gives a new stream. Everything the numpy generator
# drives (exploration noise, minibatch indices, relabelling) then differs between
# runs although torch's generator agrees. Every source of randomness must be
# derived from the run's seed.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch06.py
# :language: python
# :pyobject: seeded_generators
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch06.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch06")
