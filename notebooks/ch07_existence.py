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
# # Chapter 7 — Existence: Scripted Experts, Imitation and Learning from Demonstrations

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

import numpy as np
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from gcrl.analysis import experiments
from gcrl.analysis.plots import imitation_curves, learning_curves, publish
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch07_existence as ch07
from gcrl.core.paths import training_runs
from gcrl.course import book
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl import experts, her, imitation, video
from gcrl.rl.envs import make_fetch_env, task_name
from gcrl.rl.evaluate import EVAL_SEED_BASE, evaluation_seeds
from gcrl.rl.sac_her import algorithm
from gcrl.rl.sac_her.config import fixed_temperature
from gcrl.rl.sac_her.demonstrations import DEMO_SEED_BASE

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch07", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# The prologue asks three questions of every task: whether a network policy that
# succeeds *exists*, whether our algorithm can *learn* it, and whether the result
# is *stable*. Chapters 2 to 4 asked the second and Chapter 6 the third; this
# chapter answers the first, constructively. Existence in the *task* is shown by
# writing a controller from each task's geometry and measuring it on held-out
# episodes: on Push, PickAndPlace and Slide we measure
# {glue:text}`ch07_expert_summary`, and count every failure by its cause.
# Existence in the *hypothesis class* (the book's actor network) is shown by
# fitting that network to the controller's actions, {term}`behaviour cloning`, from
# {glue:text}`ch07_demos` expert episodes, and measuring the clone on the same
# held-out episodes: from the most demonstrations it reaches
# {glue:text}`ch07_largest_summary`. A grid of widths bounds the class that
# suffices. Cloning is trained on the expert's states and tested on its own, so
# its errors compound; we derive the compounding-error bound and the reduction
# of {term}`DAgger` {cite:p}`ross2011dagger`, which trains on the learner's own states,
# and compare the two at the same number of expert labels on
# {glue:text}`ch07_dagger_task`: {glue:text}`ch07_dagger_verdict`. Finally the
# answer to existence is put to work for learnability: the expert's episodes
# enter the book's SAC+HER as a second replay buffer with a Q-filtered cloning
# loss on the actor {cite:p}`nair2018overcoming`, and on
# {glue:text}`ch07_lfd_task` at {glue:text}`ch07_lfd_steps` environment steps
# we measure {glue:text}`ch07_lfd_verdict`.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 Two questions of existence
#
# Fix a task: the goal-conditioned MDP of Chapter 1 with its initial-state and
# goal distributions $\rho_0$ and $p_g$, horizon $T = 50$, and success at the last
# step. Write $S(\pi) = \Pr[d(\phi(s_T), g) < \varepsilon \mid \pi]$ for a policy's
# success rate. Two statements are easily confused.
#
# - **Existence in the task.** There is *some* map from observations and goals to
#   actions, $\pi: \mathcal{O} \times \mathcal{G} \to \mathcal{A}$, with $S(\pi)$
#   high. This is a fact about the simulator: whether the arm can reach, push,
#   grasp or strike well enough in 50 steps.
# - **Existence in the class.** There is a parameter $\theta$ of *our* network,
#   the actor of Chapter 3 with its widths, its input normalisation and its
#   squashed output $\mu_\theta = \tanh(m_\theta)$, with $S(\mu_\theta)$ high.
#
# The second implies the first, not conversely. A failure of reinforcement
# learning to reach 90% on a task says nothing until both are settled: the task
# might not admit it, the class might not hold it, or (the question of Chapters 2
# to 4) the class might hold it and the algorithm fail to find it.
#
# ### 1.2 Why universal approximation settles neither in practice
#
# A feed-forward network with one hidden layer of enough units approximates any
# continuous function uniformly on compact sets, and any measurable one in
# measure {cite:p}`hornik1989multilayer`; for the ReLU units of the book's
# actor the same holds because the activation is not a polynomial
# {cite:p}`leshno1993multilayer`. Three gaps separate that theorem from the
# questions above. First, it presumes a target: it says nothing about whether a
# successful policy exists in the task, which is the first question. Second, the
# controllers that succeed here are not continuous: each switches between phases
# (travel, descend, push; open, close, carry) at thresholds of the observation,
# so a network approximates them only in measure, and the set where the
# approximation may fail lies at the switching surfaces, which is where the task
# is decided. (Nor can the squashed output $\tanh(m_\theta)$ equal the
# saturated actions $\pm 1$ the controllers often emit; it can only approach
# them.) Third, the theorem is about approximation error on a set of states,
# while success is a property of a closed loop: the network's small errors move
# the arm to states the target was never evaluated on, and whether it recovers
# from them is not an approximation question at all (§1.5). What settles
# existence in the class is a network with fixed widths, fitted from finite data,
# whose closed-loop success is measured.
#
# ### 1.3 Existence in the task, by construction
#
# A scripted controller $\pi^\star$ built from the geometry of a task proves
# existence in the task when its success is measured: the estimate
# $\hat S(\pi^\star)$ on $n$ held-out episodes, drawn independently from the
# task's initial-state and goal distributions, comes with a 95% Wilson interval
# whose lower end $l$ makes "a policy with success at least $l$ exists" a
# statement at approximately the 97.5% one-sided level. Each controller moves the
# gripper's target by a proportional step
# $a_{1:3} = \operatorname{clip}(K (p^\star - p), -1, 1)$, with $p$ the grip
# position, $K = 15$ and $p^\star$ a way-point that the phase decides:
#
# - *Push*: with $u$ the unit vector from the block to the goal in the table
#   plane, the way-point behind the block is $x_{\text{obj}} - 0.055\,u$; the
#   controller rises, travels above the block to that point, descends to the
#   block's height, and then pushes along $u$, correcting its offset from the
#   line. Because $u$ is recomputed at every step, a push that turns the block is
#   corrected at the next.
# - *PickAndPlace*: open above the block, descend, close, and carry the block
#   while it is held (the fingers about a block's width apart and the block at
#   the grip).
# - *Slide*: the puck slides on low friction to a goal beyond the arm's reach,
#   so the controller must *strike*: it stands behind the puck as for Push and
#   then moves along $u$ for two steps at a speed $v$ chosen so that the puck
#   slides the distance to the goal, reading $v$ off a table of sliding distance
#   against strike speed measured once on the simulator when the controller was
#   written; it keeps still while the puck slides, and strikes again if the puck
#   stops short.
#
# Push's and PickAndPlace's controllers are *stateless*: the action is a
# function of the current observation alone. Slide's action also depends on
# internal state absent from the observation (the speed of a strike under way).
# All are deterministic, so an episode is fixed by its reset seed.
#
# ### 1.4 Existence in the class: behaviour cloning
#
# Let $\mathcal{D} = \{(s_i, g_i, a^\star_i)\}_{i=1}^{N}$ be the states, goals
# and actions of the expert's episodes. Behaviour cloning, the supervised
# learning of an expert's actions from its own states
# {cite:p}`pomerleau1989alvinn`, fits here the actor's deterministic map by
# least squares,
#
# $$
# \mathcal{L}_{\text{BC}}(\theta) = \frac{1}{N} \sum_{i=1}^{N}
#   \big\lVert \mu_\theta(s_i, g_i) - a^\star_i \big\rVert_2^2 ,
#   \qquad \mu_\theta = \tanh(m_\theta),
# $$
#
# the loss that learning from demonstrations adds to an actor's objective, up to
# its normalisation and the filter that decides where it applies
# {cite:p}`nair2018overcoming`. The inputs are normalised with the
# demonstrations' mean and variance and clipped, as the book's learner
# normalises what its actor sees. A small $\mathcal{L}_{\text{BC}}$ is a statement
# about the expert's states only; the closed-loop success of $\mu_\theta$ is
# measured separately, on held-out episodes, and the two can disagree widely.
#
# ### 1.5 Covariate shift and compounding errors
#
# Why they disagree is the central fact of imitation. An episode visits states
# $s_0, \dots, s_T$, acting at $t = 0, \dots, T-1$. Let the expert $\pi^\star$
# be deterministic, let the state after each action incur a cost
# $c(s) \in [0, 1]$, and let $J(\pi) = \mathbb{E}[\sum_{t=1}^{T} c(s_t)]$. Write
# $d_t^{\pi}$ for the distribution of $s_t$ under $\pi$, and let
#
# $$
# e_t = \Pr_{s \sim d_t^{\pi^\star}}\big[\hat\pi(s) \neq \pi^\star(s)\big],
# \qquad \bar e = \frac{1}{T} \sum_{t=0}^{T-1} e_t ,
# $$
#
# the probability that the learned policy $\hat\pi$ departs from the expert on
# the expert's own states: what cloning controls.
#
# **Cloning: $J(\hat\pi) \le J(\pi^\star) + T^2 \bar e$** {cite:p}`ross2010efficient`.
# Run the two policies from the same reset (on Fetch the dynamics are then
# deterministic; in general, with the same randomness). They visit the same
# states until $\hat\pi$ first departs from $\pi^\star$; let $E_t$ be the event
# that it has departed at some step $i \le t$. Up to its first departure the
# learner is in the expert's states, so by the union bound
# $\Pr[E_t] \le \sum_{i=0}^{t} e_i$. The costs at $s_t$ differ only on
# $E_{t-1}$, and there by at most 1, so
#
# $$
# J(\hat\pi) - J(\pi^\star) \le \sum_{t=1}^{T} \Pr[E_{t-1}]
#   \le \sum_{t=1}^{T} \sum_{i=0}^{t-1} e_i = \sum_{i=0}^{T-1} (T - i)\, e_i \le T^2 \bar e .
# $$
#
# The quadratic term is the cost of never having seen one's own mistakes: after
# the first departure $\hat\pi$ is in states $d^{\pi^\star}$ never showed it,
# where nothing bounds its error, and every remaining step may cost. The bound
# is tight up to constants in the worst case over tasks; it does not say that
# cloning pays $T^2 \bar e$ on every task.
#
# **On the learner's own states: $J(\hat\pi) \le J(\pi^\star) + u\,T\hat e$.**
# Let $Q^{\pi^\star}_t(s, a)$ be the expected cost of taking $a$ in $s$ at step
# $t$ and following $\pi^\star$ afterwards, and suppose that on the states the
# learner reaches one departure costs at most $u$ more than the expert's action,
# $Q^{\pi^\star}_t(s, a) - Q^{\pi^\star}_t(s, \pi^\star(s)) \le u$: the expert
# *recovers* within bounded cost. The performance-difference identity, in its
# finite-horizon form (Kakade and Langford state it for discounted values
# {cite:p}`kakade2002approximately`), writes the gap as a sum over the
# *learner's* states,
#
# $$
# J(\hat\pi) - J(\pi^\star) = \sum_{t=0}^{T-1} \mathbb{E}_{s \sim d_t^{\hat\pi}}
#   \big[Q^{\pi^\star}_t(s, \hat\pi(s)) - Q^{\pi^\star}_t(s, \pi^\star(s))\big]
#   \le u \sum_{t=0}^{T-1} \Pr_{s \sim d_t^{\hat\pi}}\big[\hat\pi(s) \neq \pi^\star(s)\big]
#   = u\,T\,\hat e ,
# $$
#
# with $\hat e$ the departure rate measured on $\hat\pi$'s *own* distribution.
# Linear in $T$ when $u$ is bounded, but only for a policy whose error is small
# where it goes, which cloning does not provide. (With $u$ as large as $T$, no
# recovery, the bound is again quadratic: the $O(T \hat e)$ statement is about
# tasks whose expert can recover.)
#
# **Success at the last step.** Our criterion charges a single cost, at $s_T$,
# and for it the coupling gives
# $1 - S(\hat\pi) \le 1 - S(\pi^\star) + \Pr[E_{T-1}] \le 1 - S(\pi^\star) + T \bar e$.
# This is linear in $T$, because a terminal cost in $[0, 1]$ charges any
# departure at most 1, and it is informative only when $\bar e < 1/T$: it counts
# every departure as a failure. Under this criterion {term}`covariate shift` shows
# itself not in the order in $T$ but in what the bound cannot see: nothing
# controls $\hat\pi$ after a departure, so whether a departure is fatal is
# decided in states the training data never contained.
#
# **Continuous actions.** The coupling needs exact agreement, and a regression
# never agrees exactly, so for continuous actions $\bar e$ is near 1 and the
# bounds are vacuous as stated. They apply under an additional stability
# assumption: that deviations below some $\delta$ keep the state within a tube
# around the expert's trajectory in which the expert's actions still succeed and
# the learner's error stays below $\delta$; "departure" then means a deviation
# of at least $\delta$. Without such an assumption, errors below any tolerance
# can accumulate. The bounds therefore explain the experiment's questions rather
# than predict its numbers.
#
# ### 1.6 DAgger
#
# DAgger {cite:p}`ross2011dagger` produces a policy with small error on its own
# distribution by collecting that distribution. In round $j$ it rolls out
# $\pi_j = \beta_j \pi^\star + (1 - \beta_j)\hat\pi_j$, labels every visited state
# with the expert's action, *aggregates* the labelled states with all earlier
# ones, and fits $\hat\pi_{j+1}$ on the aggregate. With $\beta_1 = 1$ and
# $\beta_j = 0$ afterwards, round 1 is cloning, and later rounds add the states
# the learner actually reaches. Fitting on the aggregate is follow-the-leader on
# the sequence of losses $\ell_j(\pi) = \mathbb{E}_{s \sim d^{\pi_j}}[\ell(s, \pi)]$,
# with $d^{\pi_j}$ the state distribution of the mixture $\pi_j$ averaged over the
# $T$ steps and $\ell$ a loss that bounds the departure indicator from above
# (the squared error scaled by $1/\delta^2$ does, for departures of at least
# $\delta$). When that online learner has no regret, some policy of the sequence
# has departure rate on its own distribution at most
# $e_N = \min_{\pi \in \Pi} \frac{1}{N} \sum_{j=1}^{N} \ell_j(\pi)$, the
# best the class $\Pi$ achieves on the aggregate, plus a term that vanishes with
# the number of rounds $N$; with §1.5 this gives
# $J \le J(\pi^\star) + u\,T\,e_N + O(1)$ once $N$ is of order $uT$ up to
# logarithms and the $\beta_j$ average to zero (Ross et al., Theorem 3.2). These
# guarantees motivate the experiment but do not cover it: the network's loss is
# not convex, so follow-the-leader need not be no-regret; each fit is
# approximate; and our $N$ is far below $uT$. The price of DAgger in any case
# is an expert that can label any state a learner reaches: our stateless
# controllers can, Slide's cannot.
#
# ### 1.7 Learning from demonstrations
#
# Cloning uses the expert's actions and ignores the reward; reinforcement
# learning uses the reward and must find the rewarding states by itself. On
# PickAndPlace the second is the obstacle: a goal in the air is achieved only
# after the block has been grasped and lifted, a sequence that undirected
# exploration almost never produces, so even hindsight relabelling (Chapter 4)
# has little to relabel. Nair et al. {cite:p}`nair2018overcoming` combine the
# two inside an off-policy actor-critic (DDPG with hindsight relabelling) and
# describe four components: a buffer of demonstrations beside the agent's
# replay, a behaviour-cloning loss on the actor, a Q-filter on that loss, and
# resets of some training episodes to states of the demonstrations. The book
# implements the first three, as three changes to its SAC+HER; it does not
# reset episodes to demonstrated states, so §3.6 measures the method without
# its fourth component.
#
# 1. *A demonstration buffer.* $N$ expert episodes are stored in a replay
#    $\mathcal{D}$ of their own, and every minibatch holds $B$ transitions of the
#    agent's replay and $B_D$ of $\mathcal{D}$. Both are relabelled as they are
#    drawn, by Chapter 4's functions: a demonstration that reached its goal also
#    shows how to reach the goals it passed through, with Chapter 4's caveat
#    (§1.3): a goal drawn from the episode's own future depends on how the
#    episode turned out.
# 2. *The critic learns from both.* A demonstrated transition $(s, a, r, s')$ is a
#    transition of the environment whatever produced $a$, and the soft Bellman
#    target of Chapter 3, $y = r + \gamma\,(\min_i Q_{\bar\psi_i}(s', a') - \alpha
#    \log\pi_\theta(a' \mid s'))$ with $a' \sim \pi_\theta(\cdot \mid s')$, evaluates the
#    *agent's* policy from $s'$ on; so the $B + B_D$ rows are off-policy data
#    for the same regression, a demonstrated row on the same footing as the
#    agent's own: a relabelled row of either replay carries Chapter 4 §1.3's
#    caveat, no more and no less.
# 3. *A cloning term on the actor.* With $\mu_\theta(s) = \tanh(m_\theta(s))$ the
#    actor's deterministic action and $L_\pi(\theta)$ Chapter 3's actor loss on
#    all $B + B_D$ rows,
#
# $$
# L(\theta) = L_\pi(\theta) + \lambda\,\frac{1}{B_D} \sum_{i \in \mathcal{D}}
# m_i\,\lVert \mu_\theta(s_i) - a_i \rVert^2 ,
# \qquad
# m_i = \mathbb{1}\!\left[\min_j Q_{\psi_j}(s_i, a_i) > \min_j Q_{\psi_j}(s_i, \mu_\theta(s_i))\right].
# $$
#
# The gate $m_i$ is the *{term}`Q-filter`*, and it follows from what the cloning term
# must not do. Without it ($m_i = 1$), the term pulls $\mu_\theta(s_i)$ toward
# $a_i$ at every demonstrated state with a fixed weight, so even an actor that
# already does better than the demonstrator there, as judged by the critic, is
# pulled back toward the demonstrator: the combined loss then has its minima
# at a compromise between the critic's maximiser and the expert, and a large
# $\lambda$ caps the agent at the expert's level. This is not hypothetical here:
# Slide's expert succeeds on only part of the episodes (§3.1), and a relabelled
# goal $g'$ makes the same demonstrated action an answer to a question the
# demonstrator never asked. We want the cloning term to act only as a
# policy-improvement step, moving the actor toward $a_i$ exactly where the
# critic values $a_i$ above the actor's own action; that is $m_i$. Its
# consequence is exact for a deterministic actor (Nair et al. use DDPG): if
# $\mu_\theta(s) \in \arg\max_a Q(s, a)$ at every demonstrated state then every
# $m_i = 0$, and the cloning term contributes no gradient, so the greedy actor of
# the reinforcement-learning objective stays a stationary point of $L$. For
# SAC's actor, which maximises $Q - \alpha \log\pi$ rather than $Q$, it holds in
# the limit of a small temperature ({glue:text}`ch07_lfd_alpha`). The gate
# reads the critic without building its gradient: the critic is trained by the
# Bellman regression alone.
#
# The weight $\lambda$ comes from the learning-from-demonstrations code in
# OpenAI Baselines {cite:p}`jangir2018baselinesdemos`, a reimplementation of
# Nair et al.'s method contributed to that repository after the paper, not the
# authors' own code. Its actor loss is $10^{-3}$ times the mean of $-Q$ plus
# $0.0078$ times the *sum* of the filtered squared errors over the $B_D = 128$
# demonstrated rows of a minibatch; as $0.0078 \approx 1/128$, that is about
# $1/B_D$ times the sum, a ratio of about $10^3$ between the mean cloning error
# and the mean actor term. Adam's steps do not change when the whole loss is
# scaled (up to its $\epsilon$), so only this ratio matters, and we set $\lambda = 10^3$ on
# Chapter 3's actor loss. The cloning term therefore dominates while the actor
# is far from the demonstrations and the filter lets it act, and it fades where
# the critic has learned to prefer the actor: the agent starts as a clone and
# keeps improving as a reinforcement learner.

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - the cloning loss:
#   $\mathcal{L}_{\text{BC}}(\theta) = \frac{1}{N} \sum_{i=1}^{N} \big\lVert \mu_\theta(s_i, g_i) - a^\star_i \big\rVert_2^2$ (§1.4)
# - cloning's bound: $J(\hat\pi) \le J(\pi^\star) + T^2 \bar e$ (§1.5)
# - on the learner's own states: $J(\hat\pi) \le J(\pi^\star) + u\,T\hat e$ (§1.5)
# - success at the last step:
#   $1 - S(\hat\pi) \le 1 - S(\pi^\star) + \Pr[E_{T-1}] \le 1 - S(\pi^\star) + T \bar e$ (§1.5)
# - DAgger's guarantee, once $N$ is of order $uT$: $J \le J(\pi^\star) + u\,T\,e_N + O(1)$ (§1.6)
# - the Q-filtered actor loss:
#   $L(\theta) = L_\pi(\theta) + \lambda\,\frac{1}{B_D} \sum_{i \in \mathcal{D}} m_i\,\lVert \mu_\theta(s_i) - a_i \rVert^2$,
#   with $m_i = \mathbb{1}\!\left[\min_j Q_{\psi_j}(s_i, a_i) > \min_j Q_{\psi_j}(s_i, \mu_\theta(s_i))\right]$ (§1.7)
# :::

# %% [markdown]
# ## 2. The Experimental Environment

# %%
floors = {env_id: ch01.floors(session.upstream, env_id)["random"] for env_id in budget.clone_tasks}
glue("ch07_tasks", ", ".join(task_name(e) for e in budget.clone_tasks), display=False)
glue("ch07_expert_episodes", f"{budget.expert_episodes:,}", display=False)
glue("ch07_eval_episodes", f"{budget.eval_episodes:,}", display=False)
glue("ch07_demos", ", ".join(f"{n:,}" for n in budget.demonstrations), display=False)
glue("ch07_widths", ", ".join(map(str, budget.widths)), display=False)
glue("ch07_width_tasks", ", ".join(task_name(e) for e in budget.width_tasks), display=False)
glue("ch07_dagger_task", task_name(budget.dagger_task), display=False)
glue("ch07_dagger_rounds", f"{budget.dagger_rounds}", display=False)
glue("ch07_dagger_per_round", f"{max(budget.demonstrations) // budget.dagger_rounds:,}", display=False)
glue("ch07_epochs", f"{budget.epochs}", display=False)
recipe_classes = {e: f"{len(ch07.recipe_arch(e))}×{ch07.recipe_width(e)}" for e in budget.clone_tasks}
glue("ch07_recipe_width", recipe_classes[budget.clone_tasks[0]] if len(set(recipe_classes.values())) == 1 else
     "; ".join(f"{task_name(e)} {c}" for e, c in recipe_classes.items()), display=False)
fit = ch07.clone_config(budget, budget.dagger_task, ch07.recipe_width(budget.dagger_task), seed)
glue("ch07_fit_settings", f"learning rate {fit.learning_rate:g}, minibatch {fit.batch_size}", display=False)
width_layers = sorted({len(ch07.recipe_arch(e)) for e in budget.width_tasks})
glue("ch07_layers", " or ".join(map(str, width_layers)), display=False)
glue("ch07_floors", "; ".join(f"{task_name(e)} {f['success_rate']:.1%}" for e, f in floors.items()), display=False)
lfd_plan = ch07.lfd_plan(budget, seed)
lfd_config = lfd_plan[(ch07.WITH, seed)]
lfd_alpha = fixed_temperature(lfd_config)
glue("ch07_lfd_alpha", f"the recipe holds α at {lfd_alpha:g}" if lfd_alpha is not None else
     "the recipe tunes α towards its target entropy, and the limit is not assured", display=False)
glue("ch07_lfd_task", task_name(budget.lfd_task), display=False)
glue("ch07_demo_seeds", f"{ch07.DEMO_SEED_BASE:,}", display=False)
glue("ch07_dagger_seeds", f"{ch07.DAGGER_SEED_BASE:,}", display=False)
glue("ch07_lfd_demo_seeds", f"{DEMO_SEED_BASE:,}", display=False)
glue("ch07_eval_seeds", f"{EVAL_SEED_BASE:,}", display=False)
glue("ch07_lfd_recipe", f"{len(lfd_config.net_arch)}×{lfd_config.net_arch[0]} networks, batch {lfd_config.batch_size}, "
     f"{lfd_config.n_envs} environments × {lfd_config.episodes_per_cycle} episodes then "
     f"{lfd_config.updates_per_cycle} updates per cycle, γ = {lfd_config.gamma}, k = {lfd_config.n_sampled_goal} "
     f"\"{lfd_config.goal_selection_strategy}\"", display=False)
glue("ch07_lfd_steps", f"{budget.lfd_env_steps:,}", display=False)
glue("ch07_lfd_seeds", f"{budget.lfd_seeds}", display=False)
glue("ch07_lfd_demos", f"{budget.lfd_demos:,}", display=False)
glue("ch07_lfd_demo_batch", f"{lfd_config.demo_batch_size}", display=False)
glue("ch07_lfd_weight", f"{lfd_config.bc_weight:g}", display=False)
glue("ch07_lfd_every", f"{budget.lfd_eval_every:,}", display=False)
glue("ch07_lfd_episodes", f"{budget.lfd_eval_episodes:,}", display=False)
pd.DataFrame([{"task": task_name(e), "random-action success (Ch. 1)": f"{f['success_rate']:.1%}",
               "episodes": f["episodes"]} for e, f in floors.items()]).set_index("task")

# %% [markdown]
# The chapter measures {glue:text}`ch07_tasks`, with Chapter 1's random-action
# floors ({glue:text}`ch07_floors`) as the reference below which nothing has
# been shown. Every success rate is measured as in every chapter: the policy's
# deterministic action on whole episodes reset with fixed held-out seeds from
# {glue:text}`ch07_eval_seeds` on, success read at the last step, with its 95%
# Wilson interval. The experts are measured on {glue:text}`ch07_expert_episodes` such episodes per
# task and every cloned policy on the first {glue:text}`ch07_eval_episodes` of
# the same episodes, so that a clone and its expert meet the same goals.
# Demonstrations are the expert's episodes from reset seeds
# {glue:text}`ch07_demo_seeds` on, and DAgger's episodes start at seed
# {glue:text}`ch07_dagger_seeds`: no training episode is an
# evaluation episode.
#
# Cloning fits the book's actor (Chapter 3: ReLU layers, a squashed Gaussian
# head whose mean is the action) in the class that the task's recipe gives the
# book's SAC+HER (Chapter 4, `hyperparams/sac_her.yml`:
# {glue:text}`ch07_recipe_width`), which is the class the learner of §3.6
# trains, from {glue:text}`ch07_demos` expert episodes of 50 steps each, with
# Adam ({glue:text}`ch07_fit_settings`) for {glue:text}`ch07_epochs`
# passes over the data. The width grid {glue:text}`ch07_widths`
# ({glue:text}`ch07_layers` layers each, the recipe's depth) is cloned from the
# largest number of demonstrations on {glue:text}`ch07_width_tasks`.
# DAgger runs {glue:text}`ch07_dagger_rounds` rounds of
# {glue:text}`ch07_dagger_per_round` episodes on {glue:text}`ch07_dagger_task`,
# refitting the same network on the aggregate after each round; it is compared
# with cloning where the two have used the same number of expert episodes, and
# so the same number of expert labels.
#
# Learning from demonstrations trains the book's SAC+HER on
# {glue:text}`ch07_lfd_task` with the task's recipe ({glue:text}`ch07_lfd_recipe`)
# for {glue:text}`ch07_lfd_steps` environment steps, on
# {glue:text}`ch07_lfd_seeds` seed(s), once with {glue:text}`ch07_lfd_demos`
# expert episodes ($B_D$ = {glue:text}`ch07_lfd_demo_batch` of their transitions
# beside every minibatch, $\lambda$ = {glue:text}`ch07_lfd_weight`, the Q-filter
# on) and once without them, both evaluated every
# {glue:text}`ch07_lfd_every` steps on {glue:text}`ch07_lfd_episodes` held-out
# episodes. The demonstrations come from reset seeds
# {glue:text}`ch07_lfd_demo_seeds` on, away from the training environments'
# seeds and from the evaluation's.
#
# ## 3. Implementation Details

# %% [markdown]
# :::{admonition} Algorithm: behaviour cloning (`imitation.clone`)
# :class: note
#
# Settings, of `CloneConfig`: `net_arch`, `epochs`, `batch_size`,
# `learning_rate`, `obs_clip`, `seed`.
#
# 1. Keep every step of the expert's episodes (reset seeds from
#    {glue:text}`ch07_demo_seeds` on) with the action taken there:
#    $\mathcal{D} = \{(s_i, g_i, a^\star_i)\}_{i=1}^{N}$.
# 2. Fit the normaliser to the observations and goals of $\mathcal{D}$; every
#    input is then normalised and clipped at `obs_clip`.
# 3. Initialise the actor $\mu_\theta = \tanh(m_\theta)$, of widths `net_arch`,
#    from `seed`.
# 4. For each of `epochs` passes, shuffle $\mathcal{D}$ and take one Adam step
#    (`learning_rate`) on $\mathcal{L}_{\text{BC}}$ per minibatch of
#    `batch_size` rows.
# 5. Return $\hat\pi = \mu_\theta$ with its normaliser; its success is measured
#    on held-out episodes, never on $\mathcal{D}$.
# :::
#
# :::{admonition} Algorithm: DAgger (`imitation.dagger`)
# :class: note
#
# Settings: `rounds` ($N$), `episodes_per_round`, the `CloneConfig` of every
# fit, and `seed_base`, the first reset seed; the expert must be stateless.
#
# 1. Start with an empty aggregate $\mathcal{D}$.
# 2. For each round $j = 1, \dots, N$:
#    1. Roll out the acting policy for `episodes_per_round` episodes from the
#       next unused reset seeds: the expert in round 1 ($\beta_1 = 1$), the
#       current learner $\hat\pi_j$ afterwards ($\beta_j = 0$).
#    2. Label every visited state with the expert's action $\pi^\star(s)$.
#    3. Aggregate: add the labelled states to $\mathcal{D}$, keeping every
#       earlier round's.
#    4. Refit: fit a fresh actor $\hat\pi_{j+1}$, with its own normaliser, on
#       all of $\mathcal{D}$ by behaviour cloning, and measure it on the
#       held-out episodes.
# 3. Return the last learner. Ross et al. return the policy of the sequence
#    that is best on validation; §3.4 reports every round's.
#
# Round 1 is behaviour cloning on the same number of episodes.
# :::
#
# :::{admonition} Algorithm: learning from demonstrations (SAC+HER with a demonstration replay)
# :class: note
#
# Settings, of `SacHerConfig`: `demo_episodes` ($N$), `demo_batch_size`
# ($B_D$), `bc_weight` ($\lambda$) and `q_filter`, beside the recipe's
# `batch_size` ($B$), `n_sampled_goal` ($k$), `goal_selection_strategy`,
# `updates_per_cycle` and `tau`.
#
# 1. Once, at the start: the expert plays `demo_episodes` episodes from reset
#    seeds {glue:text}`ch07_lfd_demo_seeds` on; they fill the demonstration
#    replay $\mathcal{D}$ and give the normaliser its first statistics.
# 2. Every cycle, the actor as it stood at the cycle's start plays the cycle's
#    episodes while the learner takes `updates_per_cycle` gradient steps on the
#    episodes of earlier cycles; the new episodes then enter the agent's replay
#    and the normaliser's statistics. Each gradient step:
#    1. Draw $B$ transitions from the agent's replay and $B_D$ from
#       $\mathcal{D}$, each relabelled as drawn by Chapter 4's functions with
#       the same $k$ and strategy; the $B_D$ travel beside the minibatch as
#       one `Demonstrations` argument of `update()`, which stacks them after the
#       agent's own rows.
#    2. Critic: one step of Chapter 3's soft Bellman regression on all
#       $B + B_D$ rows.
#    3. Actor: $L_\pi(\theta)$ on all $B + B_D$ rows, plus $\lambda$ times the
#       cloning loss on the last $B_D$ rows, each row weighted by its Q-filter
#       $m_i$ (read from the just-updated critic, without gradient) if
#       `q_filter`, and by $m_i = 1$ otherwise; one step.
#    4. Target critic: Polyak averaging at rate `tau`.
# :::

# %% [markdown]
# ### 3.1 The experts
#
# The experts live in `gcrl.rl.experts`, one class per task. Push's is the
# geometry of §1.3 line for line:

# %%
print(book.listing(inspect.getsource(experts.PushExpert)))

# %% [markdown]
# Each expert is measured on the held-out episodes, one process per task; a
# failed episode is assigned a cause read off the object's trajectory (it fell
# below the table, never moved, was never grasped, was dropped, or ended short,
# long or wide of the goal).

# %%
expert_records = ch07.expert_table(budget)
rows = []
for env_id, r in expert_records.items():
    rows.append({"task": task_name(env_id), "episodes": r["episodes"], "successes": r["successes"],
                 "success": f"{r['success_rate']:.1%}", "95% CI": f"[{r['ci95_low']:.1%}, {r['ci95_high']:.1%}]",
                 "failures by cause": ", ".join(f"{k}: {v}" for k, v in r["failures"].items()) or "none"})
glue("ch07_expert_summary", "; ".join(
    f"{task_name(e)} {r['success_rate']:.1%} (95% CI [{r['ci95_low']:.1%}, {r['ci95_high']:.1%}], "
    f"{r['successes']}/{r['episodes']})" for e, r in expert_records.items()), display=False)
for env_id, r in expert_records.items():
    key = task_name(env_id).lower()
    glue(f"ch07_expert_{key}", f"{r['success_rate']:.1%} [{r['ci95_low']:.1%}, {r['ci95_high']:.1%}]", display=False)
    glue(f"ch07_expert_{key}_low", f"{r['ci95_low']:.1%}", display=False)
slide = expert_records.get("FetchSlide-v4")
if slide:
    failed = slide["episodes"] - slide["successes"]
    causes = sorted(slide["failures"].items(), key=lambda kv: -kv[1])
    glue("ch07_slide_causes", ", ".join(f"{v} {k}" for k, v in causes if v) or "none", display=False)
    glue("ch07_slide_failed", f"{failed}", display=False)
    far = slide["beyond_one_strike"]
    glue("ch07_slide_reach", f"{experts.SlideExpert.DISTANCES[-1]:.2f}", display=False)
    glue("ch07_slide_against", ch07.interval_against(slide, [r for e, r in expert_records.items()
                                                            if e != "FetchSlide-v4"]), display=False)
    glue("ch07_slide_far", f"{far['episodes']} of the {slide['episodes']} goals lay farther than that from the puck's "
                           f"start, and {far['failed']} of those episodes failed", display=False)
pd.DataFrame(rows).set_index("task")

# %% [markdown]
# On Push the expert succeeds on {glue:text}`ch07_expert_push` of the held-out
# episodes and on PickAndPlace on {glue:text}`ch07_expert_pickandplace`: with
# 95% confidence, policies with success at least
# {glue:text}`ch07_expert_push_low` and {glue:text}`ch07_expert_pickandplace_low`
# exist in these tasks. On Slide the expert succeeds on
# {glue:text}`ch07_expert_slide`, an interval that
# {glue:text}`ch07_slide_against`; of its {glue:text}`ch07_slide_failed`
# failures the causes are {glue:text}`ch07_slide_causes`. A strike is an
# open-loop act: once the puck leaves the fingers nothing corrects it. The
# spread of the sliding distance at one strike speed, measured once when the
# speed table was calibrated (up to 4 cm at the highest speed; the table is
# `SlideExpert.DISTANCES`), is of the order of the 5 cm threshold itself, and
# one strike slides the puck at most {glue:text}`ch07_slide_reach` m:
# {glue:text}`ch07_slide_far`. Every measured controller bounds from below what
# its task admits; a better Slide controller would start by closing the loop,
# with a corrective second strike and the time to make it.
#
# ### 3.2 Behaviour cloning
#
# `gcrl.rl.imitation` holds the loss of §1.4 and the fit; each fit is one job
# of the course's process pool, which trains it, evaluates it on the held-out
# episodes and saves the policy of the largest number of demonstrations.

# %%
print(book.listing(inspect.getsource(imitation.bc_loss)))

# %%
clone_rows, dagger_rows = ch07.run_all(budget, seed, out)
largest = max(budget.demonstrations)
table = pd.DataFrame([{"task": task_name(r["env_id"]), "demonstrations": r["demonstrations"], "labels": r["labels"],
                       "final L_BC": r["losses"][-1], "held-out success": r["success_rate"],
                       "95% CI": f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]", "episodes": r["episodes"]}
                      for env_id in budget.clone_tasks for r in ch07.bc_curve(clone_rows, env_id)])
table.set_index(["task", "demonstrations"]).round(4)

# %%
panels = {task_name(e): {"behaviour cloning": [{**r, "x": r["demonstrations"]} for r in ch07.bc_curve(clone_rows, e)]}
          for e in budget.clone_tasks}
publish(imitation_curves(panels, {task_name(e): r for e, r in expert_records.items()}, "expert episodes cloned"),
        out / "cloning_curves.png", "ch07_cloning_fig")
largest_rows = {e: ch07.bc_curve(clone_rows, e)[-1] for e in budget.clone_tasks}
glue("ch07_largest", f"{largest:,}", display=False)
glue("ch07_largest_summary", "; ".join(
    f"{task_name(e)} {r['success_rate']:.0%} (95% CI [{r['ci95_low']:.0%}, {r['ci95_high']:.0%}])"
    for e, r in largest_rows.items()), display=False)
smallest_n = min(budget.demonstrations)
glue("ch07_small_fit", "; ".join(
    f"on {task_name(e)}, the clone of {smallest_n:,} episodes ends with L_BC {c[0]['losses'][-1]:.3f} "
    f"({c[0]['losses'][-1] / c[0]['losses'][0]:.0%} of its first epoch's) and succeeds on {c[0]['success_rate']:.0%} "
    f"of the held-out episodes, {experiments.against_floor(c[0], floors[e])}"
    for e in budget.clone_tasks for c in [ch07.bc_curve(clone_rows, e)]), display=False)
for e, r in largest_rows.items():
    glue(f"ch07_largest_{task_name(e).lower()}", f"{r['success_rate']:.0%} [{r['ci95_low']:.0%}, {r['ci95_high']:.0%}]",
         display=False)

# %% [markdown]
# ```{glue:figure} ch07_cloning_fig
# :name: fig-ch07-cloning
#
# Held-out success of the cloned actor ({glue:text}`ch07_recipe_width`)
# against the number of expert episodes it was fitted to, with 95% Wilson
# intervals on {glue:text}`ch07_eval_episodes` episodes; the expert's own
# success on the same task dotted, its interval shaded.
# ```
#
# From {glue:text}`ch07_largest` expert episodes the clone succeeds on Push on
# {glue:text}`ch07_largest_push`, on PickAndPlace on
# {glue:text}`ch07_largest_pickandplace`, and on Slide on
# {glue:text}`ch07_largest_slide`. At the smallest number of demonstrations,
# {glue:text}`ch07_small_fit`: the loss of §1.4 is measured on the
# demonstrations, the success on episodes the clone never saw.
#
# ### 3.3 How large a network suffices

# %%
width_record = {}
for env_id in budget.width_tasks:
    curve = ch07.width_curve(clone_rows, env_id, largest)
    width_record[env_id] = {"curve": [{k: r[k] for k in ("width", "success_rate", "ci95_low", "ci95_high",
                                                         "successes", "episodes")} | {"final_loss": r["losses"][-1]}
                                      for r in curve],
                            "smallest": ch07.smallest_width(curve, expert_records[env_id])}
glue("ch07_width_summary", "; ".join(
    f"on {task_name(e)}, " + (f"width {w['smallest']['width']} (success {w['smallest']['success_rate']:.0%}, lower "
                              f"end {w['smallest']['ci95_low']:.1%} against a bar of {w['smallest']['bar']:.1%})"
                              if w["smallest"]["width"] else
                              f"no width of the grid (bar {w['smallest']['bar']:.1%})")
    for e, w in width_record.items()), display=False)
glue("ch07_expert_fraction", f"{ch07.EXPERT_FRACTION:.0%}", display=False)
glue("ch07_width_reading", ch07.width_reading(width_record), display=False)
publish(imitation_curves({task_name(e): {f"{largest:,} episodes cloned": [{**r, "x": r["width"]} for r in w["curve"]]}
                          for e, w in width_record.items()},
                         {task_name(e): expert_records[e] for e in budget.width_tasks},
                         f"width of each of {' or '.join(map(str, width_layers))} layers"),
        out / "width_grid.png", "ch07_width_fig")
pd.DataFrame([{"task": task_name(e), **r} for e, w in width_record.items() for r in w["curve"]]
             ).set_index(["task", "width"]).round(4)

# %% [markdown]
# ```{glue:figure} ch07_width_fig
# :name: fig-ch07-widths
#
# Held-out success of clones of {glue:text}`ch07_largest` expert episodes
# against the width of each of their {glue:text}`ch07_layers` layers, with 95%
# Wilson intervals;
# the expert dotted.
# ```
#
# The smallest width of the grid whose clone reaches
# {glue:text}`ch07_expert_fraction` of its expert's success, both read by
# §1.3's standard (the lower end of the clone's Wilson interval against that
# fraction of the lower end of the expert's: what each is shown to reach, not
# its point estimate), is {glue:text}`ch07_width_summary`.
# {glue:text}`ch07_width_reading`
#
# ### 3.4 DAgger against cloning

# %%
print(book.listing(inspect.getsource(imitation.dagger)))

# %%
comparison = ch07.dagger_against_bc(dagger_rows, clone_rows)
at_largest = next(c for c in comparison if c["demonstrations"] == largest)
glue("ch07_dagger_verdict", ch07.difference_text(at_largest), display=False)
smaller = [ch07.difference_text(c) for c in comparison if c["demonstrations"] != largest]
unmatched = ch07.unmatched_text(comparison, budget.demonstrations, dagger_rows)
glue("ch07_dagger_small", "".join(f"{text}. " for text in smaller) + unmatched[0].upper() + unmatched[1:] + ".",
     display=False)
glue("ch07_dagger_margin", f"{ch07.NONINFERIORITY_MARGIN:.2f}", display=False)
glue("ch07_dagger_rollouts", ", ".join(f"{r['rollout_success']:.0%}" for r in dagger_rows if r["acting"] == "learner"),
     display=False)
dagger_panel = {task_name(budget.dagger_task): {
    "behaviour cloning": [{**r, "x": r["demonstrations"]} for r in ch07.bc_curve(clone_rows, budget.dagger_task)],
    "DAgger (after each round)": [{**r, "x": r["demonstrations"]} for r in dagger_rows]}}
publish(imitation_curves(dagger_panel, {task_name(budget.dagger_task): expert_records[budget.dagger_task]},
                         "expert episodes labelled"), out / "dagger_against_bc.png", "ch07_dagger_fig")
pd.DataFrame([{k: r[k] for k in ("round", "acting", "demonstrations", "labels", "rollout_success", "success_rate",
                                 "ci95_low", "ci95_high")} for r in dagger_rows]).set_index("round").round(3)

# %% [markdown]
# ```{glue:figure} ch07_dagger_fig
# :name: fig-ch07-dagger
#
# {glue:text}`ch07_dagger_task`: held-out success of cloning and of DAgger
# against the number of expert episodes whose states were labelled (DAgger's
# after each of its {glue:text}`ch07_dagger_rounds` rounds), with 95% Wilson
# intervals; the expert dotted.
# ```
#
# Both policies are scored on the same held-out episodes, so their outcomes
# are paired episode by episode, and the interval of their difference is the
# paired one of Newcombe {cite:p}`newcombe1998paired` (his method 10): each
# rate's Wilson interval, combined as for independent samples
# {cite:p}`newcombe1998interval` less the part that the two policies' agreement
# on the same episodes explains. "DAgger is not worse" is a claim of
# non-inferiority: it holds when the lower end of that interval lies above
# $-\delta$, with $\delta$ = {glue:text}`ch07_dagger_margin` the margin the
# chapter declares with its claims. At the largest number of episodes,
# DAgger's policy against cloning's is {glue:text}`ch07_dagger_verdict`. For
# the smaller numbers: {glue:text}`ch07_dagger_small`
#
# The table gives each round: who acted, how many labelled states the aggregate
# held, the success of the round's own episodes under the policy that acted
# (the learners of rounds 2 onwards: {glue:text}`ch07_dagger_rollouts`), and the
# held-out success of the policy fitted after it.
#
# ### 3.5 The expert and its clone at work

# %%
video_seeds = evaluation_seeds(budget.video_episodes)
pick = "FetchPickAndPlace-v4"
frames, done = video.record_episodes(pick, experts.make_expert(pick), video_seeds, size=320)
display(video.video_html(video.write_mp4(frames, out / "expert_pickandplace.mp4", fps=video.control_fps(pick)),
                         caption=f"The PickAndPlace expert on held-out episodes {video_seeds}: "
                                 f"{sum(done)} of {len(done)} succeeded."))
clone_file = out / ch07.checkpoint_name(pick, "BC", largest, ch07.recipe_width(pick))
cloned = imitation.ClonedPolicy.load(clone_file)
frames, cloned_done = video.record_episodes(pick, cloned, video_seeds, size=320)
display(video.video_html(video.write_mp4(frames, out / "cloned_pickandplace.mp4", fps=video.control_fps(pick)),
                         caption=f"Its clone from {largest:,} episodes on the same episodes: "
                                 f"{sum(cloned_done)} of {len(cloned_done)} succeeded."))

# %% [markdown]
# ### 3.6 Learning from demonstrations on PickAndPlace
#
# The demonstration buffer is `gcrl.rl.sac_her.demonstrations`; the filter and
# the cloning term are two functions of the book's algorithm module, beside the
# named losses of Chapter 3 (`critic_loss`, `actor_loss`, `temperature_loss`),
# and `update()`, given the demonstrated transitions as its `demonstrations`
# argument, stacks them after the agent's rows for the critic and adds the term
# to the actor's loss on them; Chapter 3's signature is otherwise unchanged:

# %%
print(book.listing(inspect.getsource(algorithm.q_filter_mask)))
print(book.listing(inspect.getsource(algorithm.cloning_loss)))

# %%
lfd = ch07.train_lfd(budget, seed, training_runs(out, inputs_digest), run)
lfd_result = ch07.lfd_comparison(lfd)
glue("ch07_lfd_verdict", ch07.lfd_text(lfd_result), display=False)
lfd_floor = ch01.floors(session.upstream, budget.lfd_task)["random"]
fig = learning_curves({task_name(budget.lfd_task): {
    arm: [r.curve for (a, _), r in lfd.items() if a == arm] for arm in (ch07.WITH, ch07.WITHOUT)}})
for ax in fig.axes:
    ax.axhline(lfd_floor["success_rate"], color="grey", ls="--", lw=1, label="random actions (Ch. 1)")
    ax.legend(fontsize=8, loc="upper left")
publish(fig, out / "demonstrations_curves.png", "ch07_lfd_fig")
pd.DataFrame([{"arm": arm, **{k: lfd_result[key][k] for k in ("runs", "episodes", "successes", "success_rate",
                                                                "ci95_low", "ci95_high")}}
              for arm, key in ((ch07.WITH, "with"), (ch07.WITHOUT, "without"))]).set_index("arm").round(3)

# %% [markdown]
# ```{glue:figure} ch07_lfd_fig
# :name: fig-ch07-lfd
#
# {glue:text}`ch07_lfd_task`: deterministic success of the book's SAC+HER with
# and without {glue:text}`ch07_lfd_demos` expert episodes against environment
# steps, on {glue:text}`ch07_lfd_episodes` fixed held-out episodes per
# evaluation ({glue:text}`ch07_lfd_seeds` seed(s) per arm: thin lines per seed,
# thick the pooled rate with its 95% Wilson band); Chapter 1's random-action
# floor dashed.
# ```
#
# At the end of the budget, {glue:text}`ch07_lfd_verdict`. Both arms are
# evaluated on the same held-out episodes. With one training seed per arm the
# interval is the paired one of §3.4; with several it is Chapter 4's two-stage
# bootstrap, which resamples the seeds and then the episodes within each, so
# that a seed that failed outright counts as one failed run rather than as
# many failed episodes.
#
# ## 4. Verification and Sanity Checks
#
# First, the experts are deterministic: the same reset seed gives the same
# episode, action for action, on every task.

# %%
for env_id in budget.clone_tasks:
    a, b = experts.expert_rollouts(env_id, [EVAL_SEED_BASE]), experts.expert_rollouts(env_id, [EVAL_SEED_BASE])
    assert np.array_equal(a[0].episode.action, b[0].episode.action), env_id
    assert np.array_equal(a[0].episode.observation, b[0].episode.observation), env_id
"experts deterministic"

# %% [markdown]
# Second, the experts read the observation where Chapter 1 says its parts are:
# the slices they use name the grip position, the object position, the finger
# joints and the two velocities in Chapter 1's layout of the observation.

# %%
env = make_fetch_env("FetchPush-v4")
labels = [label["group"] for label in ch01.observation_labels(env)]
env.close()
layout = [(experts.GRIP, "grip_pos"), (experts.OBJECT, "object_pos"), (experts.FINGERS, "gripper_state"),
          (experts.OBJECT_VELP, "object_velp"), (experts.GRIP_VELP, "grip_velp")]
assert all(set(labels[part]) == {group} for part, group in layout), labels
"layout matches Chapter 1"

# %% [markdown]
# Third, a cloned policy reloads to the same actions: the saved policy of the
# largest number of demonstrations acts identically, bit for bit, after a
# reload, on the states of one expert episode.

# %%
again = imitation.ClonedPolicy.load(clone_file)
probe = experts.expert_rollouts(pick, [EVAL_SEED_BASE])[0].episode
observations = [{k: v[t] for k, v in probe.inputs(slice(0, len(probe.action))).items()}
                for t in range(len(probe.action))]
reload_identical = all(np.array_equal(cloned(o), again(o)) for o in observations)
assert reload_identical
"reload identical"

# %% [markdown]
# Fourth, the fit does what it is asked, whatever the held-out success: on
# every task the final loss of the largest fit is below its first epoch's.

# %%
for env_id, r in largest_rows.items():
    assert r["losses"][-1] < r["losses"][0], (env_id, r["losses"][0], r["losses"][-1])
"the fit reduces L_BC"

# %% [markdown]
# Fifth, demonstrations are episodes in the book's own replay format, so
# Chapter 4's pure relabelling functions apply to them unchanged: relabelling an
# expert episode gives rewards that the environment's `compute_reward` confirms
# transition by transition. The check is of the recomputed rewards; the caveat
# of Chapter 4, §1.3 on goals drawn from an episode's own future applies to
# demonstrations as to the agent's episodes.

# %%
env = make_fetch_env("FetchPush-v4")
demo = experts.expert_rollouts("FetchPush-v4", [0])[0].episode
relabelled = her.relabel_episode(demo.achieved_goal[1:], "future", 4, np.random.default_rng(0),
                                 env.unwrapped.compute_reward)
confirmed = [float(env.unwrapped.compute_reward(demo.achieved_goal[1:][t], g, None))
             for t, g in zip(relabelled.t, relabelled.goals)]
env.close()
relabelled_ok = bool(np.array_equal(np.asarray(confirmed, dtype=np.float32), relabelled.rewards))
assert relabelled_ok
"demonstrations relabel like Chapter 4's episodes"

# %% [markdown]
# Sixth, the Q-filter of the trained agent never lets the cloning term act where
# the critic prefers the actor's action. On a minibatch of demonstrated
# transitions, drawn and relabelled as in training, the gate equals the
# comparison of the two critics' values row by row, and the cloning loss of the
# rows it rejects has no gradient at all in the actor's parameters.

# %%
lfd_run = lfd[(ch07.WITH, seed)]
q_check = ch07.trained_q_filter(lfd_run, budget.lfd_demos, seed)
assert q_check["mask_is_the_comparison"] and q_check["rejected_rows_give_no_gradient"], q_check
glue("ch07_q_passed", f"{q_check['fraction_passed']:.0%} of {q_check['rows']}", display=False)
"Q-filter checked on a batch"

# %% [markdown]
# At the end of training the critic preferred the expert's action on
# {glue:text}`ch07_q_passed` demonstrated (and relabelled) states: there the
# cloning term still pulled the actor, and everywhere else the agent was on
# its own.

# %% [markdown]
# ## 5. Deliverables

# %%
write_deliverable(out, "existence_results.json", {
    "budget": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(budget).items()},
    "seeds": {"demonstrations_from": ch07.DEMO_SEED_BASE, "dagger_from": ch07.DAGGER_SEED_BASE,
              "evaluation_from": EVAL_SEED_BASE, "fit_seed": seed},
    "experts": expert_records,
    "cloning": {e: ch07.bc_curve(clone_rows, e) for e in budget.clone_tasks},
    "largest": largest_rows,
    "widths": width_record,
    "dagger": {"env_id": budget.dagger_task, "rounds": dagger_rows, "against_bc": comparison,
               "at_largest": at_largest},
    "demonstrations": {"env_id": budget.lfd_task, "demonstrations": budget.lfd_demos,
                       "env_steps": budget.lfd_env_steps, "config": lfd_config.as_dict(), **lfd_result,
                       "curves": {ch07.lfd_folder(key): r.curve for key, r in lfd.items()}, "q_filter": q_check},
    "checks": {"expert_deterministic": True, "layout_matches_chapter_1": True, "reload_identical": reload_identical,
               "relabelled_like_chapter_4": relabelled_ok,
               "q_filter_on_a_batch": q_check["mask_is_the_comparison"] and q_check["rejected_rows_give_no_gradient"]},
    "videos": {"expert": {"file": "expert_pickandplace.mp4", "episodes": video_seeds, "successes": int(sum(done))},
               "clone": {"file": "cloned_pickandplace.mp4", "episodes": video_seeds,
                         "successes": int(sum(cloned_done)), "checkpoint": clone_file.name}},
}, run)
glue("ch07_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch07_profile", profile, display=False)
verified_table(results, profile, "ch07")

# %% [markdown]
# Under the {glue:text}`ch07_profile` profile the chapter took
# {glue:text}`ch07_wall_s` s. The cloned and DAgger policies of the largest
# number of demonstrations are saved beside the results as `bc-*.pt` and
# `dagger-*.pt`; `gcrl.rl.imitation.ClonedPolicy.load` reads them back.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - Existence in the task is shown by construction: a scripted controller
#   measured on held-out episodes bounds from below what the task admits. With
#   95% confidence, policies with success at least
#   {glue:text}`ch07_expert_push_low` on Push and
#   {glue:text}`ch07_expert_pickandplace_low` on PickAndPlace exist (§1.3, §3.1).
# - Existence in the class is shown by a network of fixed widths, fitted from
#   finite data, whose closed-loop success is measured; neither universal
#   approximation nor a small $\mathcal{L}_{\text{BC}}$ shows it. From
#   {glue:text}`ch07_largest` expert episodes the clone reaches
#   {glue:text}`ch07_largest_summary` (§1.2, §3.2).
# - Cloning controls its error on the expert's states only, which bounds its
#   cost by $T^2 \bar e$; DAgger trains on the learner's own states, at the
#   price of an expert that can label any state, which Slide's cannot (§1.5,
#   §1.6).
# - Demonstrations put existence to work for learnability: a second replay and
#   a Q-filtered cloning term, which acts only where the critic prefers the
#   expert's action; at the end of training it acted on
#   {glue:text}`ch07_q_passed` demonstrated states (§1.7, §4).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - *An imperfect expert* (§3.1): Slide's open-loop strike succeeds on
#   {glue:text}`ch07_expert_slide`; of its {glue:text}`ch07_slide_failed`
#   failures the causes are {glue:text}`ch07_slide_causes`.
# - *A small loss that does not transfer* (§3.2): at the smallest number of
#   demonstrations, {glue:text}`ch07_small_fit`.
# - *Compounding errors* (§3.4): cloning is tested on states it was never
#   trained on; at the same number of expert labels on
#   {glue:text}`ch07_dagger_task`, DAgger's policy against cloning's is
#   {glue:text}`ch07_dagger_verdict`.
# - *Exploration that does not find the grasp* (§3.6): on
#   {glue:text}`ch07_lfd_task`, SAC+HER alone is measured against the same
#   learner with demonstrations and against Chapter 1's random-action floor;
#   at {glue:text}`ch07_lfd_steps` environment steps we measure
#   {glue:text}`ch07_lfd_verdict`.
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch07.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch07` (or
# `make check CHAPTER=ch07`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 7.1 (derivation): the union bound on cloning's regret.** §1.5 bounds
# $J(\hat\pi) - J(\pi^\star)$ by $\sum_{t=1}^{T} \Pr[E_{t-1}]$ and then by
# $T^2\bar e$. Redo the middle step: from the per-step departure rates
# $e_0, \dots, e_{T-1}$ on the expert's states, derive the tightest bound the union
# bound gives before it is relaxed to $T^2 \bar e$, and write
# `cloning_regret_bound(departure)`. Which departures cost most, and why?
#
# :::{dropdown} Solution
# $\Pr[E_{t-1}] \le \sum_{i=0}^{t-1} e_i$, so
# $\sum_{t=1}^{T}\Pr[E_{t-1}] \le \sum_{t=1}^{T}\sum_{i=0}^{t-1} e_i =
# \sum_{i=0}^{T-1} (T - i)\, e_i$: a departure at step $i$ is counted at every
# later step $t = i + 1, \dots, T$. Since $T - i \le T$, this is at most
# $T \sum_i e_i = T^2 \bar e$. Early departures cost most: they leave the learner
# the longest time in states the expert's data never showed it.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch07.py
# :language: python
# :pyobject: cloning_regret_bound
# ```
# :::
#
# **Problem 7.2 (implementation): the Q-filter.** Write `q_filter(q_demo,
# q_policy)`: given the twin critics' values of the demonstrated actions and of
# the actor's own actions, each of shape `(critics, batch)`, the boolean mask of
# the rows whose demonstration the critic prefers, as §1.7 defines it. Why the
# minimum over the critics rather than one critic or their mean (and which way
# would a single critic's overestimation tilt the filter)? Why a strict
# comparison?
#
# :::{dropdown} Solution
# Both sides are valued by $\min_i Q_i$, the function the actor's own loss
# maximises (Chapter 3, §1.5: $L_\pi$ reads $\min_i Q_{\psi_i}(s, a)$):
# $\min_i Q_i(s, a_D) > \min_i Q_i(s, \mu(s))$. The filter must ask whether
# moving toward $a_D$ improves the objective the actor is actually trained on;
# only then does a greedy actor of that objective get $m_i = 0$ on every row and
# stay a stationary point of the filtered loss (§1.7). With one critic, or their
# mean, the two would disagree: an actor at the maximum of $\min_i Q_i$ could
# still be pulled toward demonstrations that $Q_1$ alone prefers, and rows that
# $\min_i Q_i$ prefers could be rejected. Overestimation is not the reason: it
# inflates $Q(s, \mu(s))$ most, because $\mu$ is chosen to maximise the critic
# while $a_D$ is not, so a single critic would *reject* more demonstrations, not
# accept more. The comparison is strict so that where the critic cannot tell the
# two actions apart the actor is left to its own objective.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch07.py
# :language: python
# :pyobject: q_filter
# ```
# :::
#
# **Problem 7.3 (implementation): the Q-filtered cloning loss.** Write
# `cloning_loss(policy_action, demo_action, mask)` $=
# \frac{1}{B_D}\sum_{i=1}^{B_D} m_i \lVert \mu(s_i) - a_i \rVert^2$ on the $B_D$
# demonstration rows of a minibatch. Why divide by $B_D$ rather than by the number
# of rows the filter kept?
#
# :::{dropdown} Solution
# The squared error is summed over action dimensions and masked per row. Dividing
# by $B_D$ keeps the term's weight proportional to how much of the demonstration
# data the critic still endorses: as the actor overtakes the expert, fewer rows
# pass and the cloning term fades on its own. Dividing by the kept rows would hold
# its weight constant however few survive, forcing the actor toward the last few
# demonstrations it has not yet beaten.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch07.py
# :language: python
# :pyobject: cloning_loss
# ```
# :::
#
# **Problem 7.4 (diagnosis): a DAgger that forgets.** The stub's
# `dagger_aggregate` builds each round's training set. With it, the learner's
# success oscillates from round to round instead of rising as in §3.4. Run the
# check, read the symptom, repair.
#
# :::{dropdown} Solution
# The stub trains each round on the states of the latest policy only. DAgger's
# guarantee (§1.6) is for the *aggregate* of all rounds' states, labelled by the
# expert: it is a no-regret argument over the sequence of policies, and a learner
# trained on the last policy's states alone forgets the states its earlier
# mistakes led to, and returns to them.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch07.py
# :language: python
# :pyobject: dagger_aggregate
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch07.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch07")
