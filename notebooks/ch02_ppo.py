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
# # Chapter 2 — A PPO baseline

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

from gcrl.analysis import experiments
from gcrl.analysis.plots import learning_curves, publish
from gcrl.chapters import ch02_ppo as ch02
from gcrl.core.paths import training_runs
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl import policy_gradient, video
from gcrl.rl.envs import task_name
from gcrl.rl.recipes import library_default, load_hyperparams

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch02", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# This chapter asks the Learnability Question of the most widely used {term}`on-policy`
# method, Proximal Policy Optimization {cite:p}`schulman2017ppo`, on three
# problems of increasing difficulty: Reach with a dense reward, Reach with the
# sparse reward, and Push with the sparse reward. We derive the policy-gradient
# theorem, the clipped surrogate objective and {term}`generalised advantage estimation`
# {cite:p}`schulman2016gae` from first principles. We then train PPO on a grid of
# environments and seeds, evaluate every run on fixed held-out episodes, and
# report learning curves and final success rates with their intervals. The
# derivation predicts where PPO should fail, and the measurements show where it
# does.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 The policy-gradient theorem
#
# Let $\pi_\theta(a \mid s, g)$ be a differentiable stochastic policy and
# $J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\big[\sum_{t=0}^{H-1} \gamma^t r_{t+1}\big]$
# its objective over a horizon $H$, where a trajectory $\tau$ has probability
#
# $$
# p_\theta(\tau) = p_g(g)\,\rho_0(s_0) \prod_{t=0}^{H-1} \pi_\theta(a_t \mid s_t, g)\, P(s_{t+1} \mid s_t, a_t).
# $$
#
# The Fetch tasks are *continuing* tasks: nothing terminates them (Chapter 1,
# §1.3), and the objective the course's learners pursue is the infinite-horizon
# one, $H = \infty$ with $\gamma < 1$, which the episodes of $T$ = 50 steps sample in
# truncated pieces. The derivation below holds for any $H$.
# Writing $R(\tau) = \sum_{k=0}^{H-1} \gamma^k r_{k+1}$ for the discounted return and using
# $\nabla_\theta p_\theta = p_\theta \nabla_\theta \log p_\theta$,
#
# $$
# \nabla_\theta J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\big[R(\tau)\, \nabla_\theta \log p_\theta(\tau)\big]
# = \mathbb{E}_{\tau \sim p_\theta}\Big[\sum_{t=0}^{H-1} \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, \sum_{k=0}^{H-1} \gamma^k r_{k+1}\Big],
# $$
#
# because the goal distribution, the initial distribution and the dynamics do not
# depend on $\theta$, so their logarithms have zero gradient. The simulator never
# has to be differentiated. An action cannot affect rewards that came before it:
# for $k < t$, conditioning on the history up to $s_t$ gives
# $\mathbb{E}\big[r_{k+1}\, \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\big] = 0$. Only the
# rewards from $t$ on remain, and they keep the discount they carry *from time 0*:
# $\sum_{k \ge t} \gamma^k r_{k+1} = \gamma^t G_t$, with
# $G_t = \sum_{k=t}^{H-1} \gamma^{k-t} r_{k+1}$ the discounted reward-to-go. Hence
#
# $$
# \nabla_\theta J(\theta) = \mathbb{E}\Big[\sum_{t=0}^{H-1} \gamma^t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, G_t\Big] .
# $$
#
# The factor $\gamma^t$ is not optional: step $t$ contributes to $J$ only through
# rewards that are discounted from the start of the episode. For any function
# $b(s_t, g)$ that does not depend on the action,
# $\mathbb{E}_{a \sim \pi_\theta}[\nabla_\theta \log \pi_\theta(a \mid s, g)\, b(s, g)]
# = b(s, g)\, \nabla_\theta \int \pi_\theta(a \mid s, g)\, da = 0$. A baseline therefore
# changes the variance of the estimator but not its mean. In the continuing task
# the expected reward-to-go from a state does not depend on when the state is
# visited, so the natural baseline is the value $V^{\pi}(s, g) = \mathbb{E}[G_t \mid s_t = s, g]$,
# and $\mathbb{E}[G_t \mid s_t, a_t, g] - V^\pi(s_t, g)$ is the advantage
# $A^{\pi}(s_t, a_t, g)$. (Over a finite horizon both would depend on the time left.)
#
# $$
# \nabla_\theta J(\theta) = \mathbb{E}\Big[\sum_{t=0}^{H-1} \gamma^t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, A^{\pi_\theta}(s_t, a_t, g)\Big] .
# $$
#
# This is the likelihood-ratio form {cite:p}`williams1992simple` of the
# policy-gradient theorem {cite:p}`sutton2000pg`, which writes the same sum as an
# expectation over the discounted state distribution. **What the algorithms of practice estimate instead.** PPO, as
# published and as implemented in Stable-Baselines3, averages
# $\nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, \hat A_t$ over every collected step with
# equal weight: it drops $\gamma^t$. The resulting direction
# $\mathbb{E}\big[\sum_t \nabla_\theta \log \pi_\theta\, A_t\big]$ is not $\nabla_\theta J$,
# a bias first analysed for natural actor-critic methods {cite:p}`thomas2014bias`;
# Nota and Thomas {cite:p}`nota2020policy` show that it is in general not the
# gradient of *any* function of $\theta$, so that following it is not the ascent of
# some other objective either. Practice drops the weight for a practical reason:
# with $\gamma^t$, the late steps of an episode count for almost nothing
# ($\gamma^{49} \approx 0.08$ at $\gamma = 0.95$), so most of every batch would be
# wasted, although the task, reaching the goal by the end of the episode, is not
# discounted at all. The discount is then used as a device that shortens the horizon
# over which credit is assigned, not as part of the objective. Section 4 computes
# both estimators exactly on a small tabular problem and compares them with a
# finite-difference gradient of $J$.
#
# ### 1.2 From the gradient to a surrogate, and why PPO clips it
#
# The expectation above is taken under the *current* policy, so each batch of
# data supports exactly one gradient step. To take several optimiser steps on one
# batch collected by $\pi_{\theta_{\text{old}}}$, write the objective with the
# importance weight $w_t(\theta) = \pi_\theta(a_t \mid s_t, g) / \pi_{\theta_{\text{old}}}(a_t \mid s_t, g)$:
#
# $$
# L^{\text{IS}}(\theta) = \mathbb{E}_{\pi_{\theta_{\text{old}}}}\Big[\sum_t w_t(\theta)\, \hat A_t\Big],
# \qquad \nabla_\theta L^{\text{IS}}\big|_{\theta = \theta_{\text{old}}}
# = \mathbb{E}_{\pi_{\theta_{\text{old}}}}\Big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\big|_{\theta_{\text{old}}}\, \hat A_t\Big],
# $$
#
# because $\nabla_\theta w_t = w_t \nabla_\theta \log \pi_\theta$ and $w_t(\theta_{\text{old}}) = 1$.
# At $\theta_{\text{old}}$ the surrogate's gradient is the equal-weight direction of
# §1.1, which is not $\nabla_\theta J$. Weighted by $\gamma^t$, the surrogate
# $\mathbb{E}_{\pi_{\theta_{\text{old}}}}[\sum_t \gamma^t w_t(\theta) \hat A_t]$ would match $J$
# to first order at $\theta_{\text{old}}$, and only there
# {cite:p}`kakade2002approximately`: it ignores that a changed policy also visits
# different states. The unweighted $L^{\text{IS}}$ that PPO maximises matches $J$
# to first order nowhere in general. Maximised without restraint, it drives
# $w_t$ far from 1 and exploits errors in $\hat A_t$. PPO removes the incentive to
# leave a neighbourhood of width $\kappa$ (the clip range, $\epsilon$ in
# {cite:t}`schulman2017ppo`, `clip_range` in Stable-Baselines3):
#
# $$
# L^{\text{CLIP}}(\theta) = \mathbb{E}\Big[\sum_t \min\big(w_t(\theta)\, \hat A_t,\;
# \operatorname{clip}(w_t(\theta), 1 - \kappa, 1 + \kappa)\, \hat A_t\big)\Big].
# $$
#
# If $\hat A_t > 0$, the minimum is flat in $\theta$ once $w_t > 1 + \kappa$:
# there is no gain in making a good action more likely than that. If
# $\hat A_t < 0$, it is flat once $w_t < 1 - \kappa$. It is the *minimum* that is
# pessimistic: $\min(w_t \hat A_t, \operatorname{clip}(w_t)\hat A_t) \le w_t \hat A_t$
# for every $w_t$, so $L^{\text{CLIP}} \le L^{\text{IS}}$. The clipped term alone is no
# bound: for $\hat A_t > 0$ and $w_t < 1 - \kappa$ it equals $(1 - \kappa)\hat A_t > w_t \hat A_t$,
# and there the minimum keeps the unclipped term, so a step that made a good
# action much less likely is still corrected.

# %% tags=["hide-input"]
recipe = load_hyperparams("ppo", "FetchReach-v4")  # the chapter's recipe: what the figures draw
clip_shown, gamma_shown, lambdas_shown = recipe["clip_range"], recipe["gamma"], (0.5, 0.8, recipe["gae_lambda"])
glue("ch02_clip_shown", f"{clip_shown}", display=False)
ratio = np.linspace(0.0, 2.0, 401)
fig, axes = plt.subplots(1, 2, figsize=(8.4, 2.9), sharex=True)
for ax, advantage in zip(axes, (1.0, -1.0)):
    unclipped = ratio * advantage
    clipped = np.minimum(unclipped, np.clip(ratio, 1 - clip_shown, 1 + clip_shown) * advantage)
    ax.plot(ratio, unclipped, color="grey", ls="--", lw=1, label=r"$w\hat A$ (unclipped)")
    ax.plot(ratio, clipped, color="C0", lw=2, label=r"$\min(w\hat A, \mathrm{clip}(w)\hat A)$")
    for edge in (1 - clip_shown, 1 + clip_shown):
        ax.axvline(edge, color="k", ls=":", lw=0.8)
    ax.set_title(rf"$\hat A = {advantage:+.0f}$")
    ax.set_xlabel("probability ratio $w$")
axes[0].set_ylabel("per-sample objective")
axes[0].legend(fontsize=8, loc="upper left")
publish(fig, out / "clipped_objective.png", "ch02_clip_fig")

# %% [markdown]
# ```{glue:figure} ch02_clip_fig
# :name: fig-ch02-clip
#
# The per-sample clipped objective against the probability ratio $w$, for a
# positive and a negative advantage, with $\kappa$ = {glue:text}`ch02_clip_shown`
# (dotted: $1 \pm \kappa$). Where the thick line is flat the objective has no
# gradient: for $\hat A > 0$ beyond $1 + \kappa$, for $\hat A < 0$ below
# $1 - \kappa$. Elsewhere it is the unclipped term, never above it.
# ```
#
# ### 1.3 Generalised advantage estimation
#
# Let $V_\psi(s, g)$ be a learned critic (the parameters of a value network are
# written $\psi$ throughout the book; $\phi$ is the achieved-goal map). It does not
# see $t$; bootstrapping at the time limit, it estimates the value the state would
# have if the episode went on (Chapter 1, §1.3), for which time does not matter.
# The temporal-difference residual
# $\delta_t = r_{t+1} + \gamma V_\psi(s_{t+1}, g) - V_\psi(s_t, g)$ is an advantage
# estimate with low variance, biased by the critic's error. Summing $j$ residuals
# telescopes into a $j$-step return minus the baseline:
# $\hat A_t^{(j)} = \sum_{l=0}^{j-1} \gamma^l \delta_{t+l} = \sum_{l=0}^{j-1}\gamma^l r_{t+l+1} + \gamma^j V_\psi(s_{t+j}, g) - V_\psi(s_t, g)$.
# The larger $j$, the less the estimate depends on the critic and the more on
# sampled rewards. Let $h$ be the number of steps left in the stretch of data
# from $t$ (to the time limit, or to the end of the rollout), so that
# $\hat A_t^{(h)}$ is the longest estimate available. GAE
# {cite:p}`schulman2016gae` averages the $j$-step estimates with geometric weights
# $(1-\lambda)\lambda^{j-1}$ for $j = 1, \dots, h - 1$; these sum to
# $1 - \lambda^{h-1}$, and the remaining weight $\lambda^{h-1}$ goes on the longest
# estimate, so that the weights sum to one. With that allocation, $\delta_{t+l}$
# appears in every estimate with $j > l$, whose weights add up to $\lambda^l$, and
# the average collapses to
#
# $$
# \hat A_t^{\text{GAE}(\gamma, \lambda)} = (1-\lambda) \sum_{j=1}^{h-1} \lambda^{j-1} \hat A_t^{(j)} + \lambda^{h-1} \hat A_t^{(h)}
# = \sum_{l=0}^{h-1} (\gamma \lambda)^l\, \delta_{t+l}.
# $$
#
# The weights are easier to see than to read ({numref}`fig-ch02-gae`).

# %% tags=["hide-input"]
horizon_shown = 20
fig, axes = plt.subplots(1, 2, figsize=(8.4, 2.9))
for lam, colour in zip(lambdas_shown, ("C1", "C0", "C2")):
    j = np.arange(1, horizon_shown + 1)
    weights = (1 - lam) * lam ** (j - 1.0)
    weights[-1] = lam ** (horizon_shown - 1)  # the longest estimate takes the remaining weight
    axes[0].plot(j, weights, "o-", ms=3, color=colour, label=rf"$\lambda = {lam}$")
    axes[1].plot(j - 1, (gamma_shown * lam) ** (j - 1.0), "o-", ms=3, color=colour, label=rf"$\lambda = {lam}$")
axes[0].set(xlabel="$j$ (steps before bootstrapping)", ylabel=r"weight of $\hat A_t^{(j)}$",
            title="the $j$-step estimates averaged")
axes[1].set(xlabel="$l$", ylabel=r"weight of $\delta_{t+l}$", title="the same sum, in TD errors")
axes[0].legend(fontsize=8)
publish(fig, out / "gae_weights.png", "ch02_gae_fig")
glue("ch02_gae_shown", f"h = {horizon_shown} steps with γ = {gamma_shown}", display=False)

# %% [markdown]
# ```{glue:figure} ch02_gae_fig
# :name: fig-ch02-gae
#
# GAE's weights for a stretch of {glue:text}`ch02_gae_shown`. Left: the weight
# $(1-\lambda)\lambda^{j-1}$ of each $j$-step estimate, the last point taking
# the remaining $\lambda^{h-1}$ (visible as the upturn at $j = h$ for
# $\lambda = 0.95$). Right: the equivalent weight $(\gamma\lambda)^l$ of the
# TD error $l$ steps ahead.
# ```
#
# $\lambda = 0$ gives the one-step TD estimate (biased, low variance), and
# $\lambda = 1$ the sampled discounted rewards of the stretch plus
# $\gamma^{h} V_\psi$ at its end, minus the baseline: not a Monte Carlo return, since
# it still carries the critic's error at the stretch's end, but the least biased
# and most variable member of the family. At the time limit the episode is
# truncated, not terminated (Chapter 1), so the last residual bootstraps from
# $V_\psi(s_T, g)$ rather than from zero; Stable-Baselines3 also bootstraps where a
# rollout ends inside an episode. `tests/test_policy_gradient.py`
# checks both limits and the equality with Stable-Baselines3's
# `RolloutBuffer.compute_returns_and_advantage`, across a truncated episode.
#
# ### 1.4 Why the sparse reward defeats on-policy learning
#
# Under the sparse reward, every step that misses the goal earns $-1$. Take a
# batch in which no step reaches the goal. Because the critic bootstraps at the
# time limit, these data are consistent with a single constant value,
# $V \equiv -1/(1-\gamma)$, the value of never succeeding over an unbounded
# horizon: with it every residual is
# $\delta_t = -1 + \gamma V - V = 0$. The critic does not see $t$ (Chapter 1's
# observation has no time feature), but it needs none to fit this constant, and as
# it approaches it the residuals and advantages shrink to the critic's fitting
# noise, which does not depend on which action was taken. Stable-Baselines3's PPO
# then normalises the advantages of every minibatch to zero mean and unit
# standard deviation (`normalize_advantage`). Subtracting the mean removes what
# little the batch had in common, and dividing by the standard deviation scales
# the remaining noise up to unit size: the update is a full-sized step in a random
# direction, not a small one. Useful signal comes only from steps that reach the
# goal. Chapter 1 measured how rare these are under a random policy, which is
# roughly where PPO starts: the fraction of steps at the goal was
# {glue:text}`ch02_ch1_reach` on Reach and {glue:text}`ch02_ch1_push` on Push.
# On-policy sampling compounds the problem. Each batch is used for a few epochs
# and then discarded, so a rare success contributes to a handful of gradient steps
# and is never seen again. The dense reward removes the obstacle: the reward
# $-d(\phi(s_{t+1}), g)$ ranks every action by how much it brings the achieved goal
# closer, whether or not the goal is ever reached.

# %% tags=["hide-input"]
step_success = ch02.random_policy_step_success(session.upstream)
glue("ch02_ch1_reach", f"{step_success['FetchReach-v4']:.2%}", display=False)
glue("ch02_ch1_push", f"{step_success['FetchPush-v4']:.2%}", display=False)

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - the policy-gradient theorem:
#   $\nabla_\theta J(\theta) = \mathbb{E}\Big[\sum_{t=0}^{H-1} \gamma^t\, \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, A^{\pi_\theta}(s_t, a_t, g)\Big]$ (§1.1)
# - the direction practice follows instead, without $\gamma^t$:
#   $\mathbb{E}\big[\sum_t \nabla_\theta \log \pi_\theta\, A_t\big]$, which is not $\nabla_\theta J$ (§1.1)
# - the clipped surrogate, with
#   $w_t(\theta) = \pi_\theta(a_t \mid s_t, g) / \pi_{\theta_{\text{old}}}(a_t \mid s_t, g)$:
#   $L^{\text{CLIP}}(\theta) = \mathbb{E}\Big[\sum_t \min\big(w_t(\theta)\, \hat A_t,\; \operatorname{clip}(w_t(\theta), 1 - \kappa, 1 + \kappa)\, \hat A_t\big)\Big]$,
#   so that $L^{\text{CLIP}} \le L^{\text{IS}}$ (§1.2)
# - the temporal-difference residual:
#   $\delta_t = r_{t+1} + \gamma V_\psi(s_{t+1}, g) - V_\psi(s_t, g)$ (§1.3)
# - generalised advantage estimation:
#   $\hat A_t^{\text{GAE}(\gamma, \lambda)} = \sum_{l=0}^{h-1} (\gamma \lambda)^l\, \delta_{t+l}$ (§1.3)
# - the sparse reward's constant value, with which every batch without a success is consistent:
#   $V \equiv -1/(1-\gamma)$, with $\delta_t = -1 + \gamma V - V = 0$ (§1.4)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# Every run uses the hyperparameters in `scripts/gcrl/rl/hyperparams/ppo.yml`:
# {glue:text}`ch02_n_envs` environments stepped in parallel processes, rollouts of
# {glue:text}`ch02_n_steps` steps per environment, {glue:text}`ch02_n_epochs` epochs
# of minibatch updates per rollout, $\lambda$ = {glue:text}`ch02_lambda`,
# $\kappa$ = {glue:text}`ch02_clip`, observations normalised by running statistics.
# The profile sets the step budget, the number of seeds and the evaluation grid. Evaluation uses the deterministic policy on
# fixed held-out episodes whose seeds training never uses.

# %%
ppo_config = ch02.config("FetchReachDense-v4", seed, budget)
glue("ch02_n_envs", f"{ppo_config.n_envs}", display=False)
for key in ("n_steps", "n_epochs"):
    glue(f"ch02_{key}", f"{ppo_config.hyperparams[key]:,}", display=False)
glue("ch02_lambda", f"{ppo_config.hyperparams['gae_lambda']:g}", display=False)
glue("ch02_clip", f"{ppo_config.hyperparams['clip_range']:g}", display=False)
for key in ("vf_coef", "max_grad_norm"):
    value = ppo_config.hyperparams.get(key, library_default("ppo", key))
    glue(f"ch02_{key}", f"{value:g}", display=False)
pd.Series({
    "env steps per run": budget.env_steps,
    "seeds per environment": budget.seeds,
    "evaluate every (env steps)": budget.eval_every,
    "episodes per evaluation": budget.eval_episodes,
    "parallel environments": ppo_config.n_envs,
    **{k: str(v) for k, v in ppo_config.hyperparams.items()},
}, name="value").to_frame()

# %% [markdown]
# ## 3. Implementation Details
#
# The update rule is Stable-Baselines3's PPO {cite:p}`raffin2021sb3`. It
# implements §1.2–1.3 with the choices of practice that the derivation does not
# make: the clipped surrogate is averaged over steps without the $\gamma^t$ weight
# (§1.1); GAE with $\lambda$ = {glue:text}`ch02_lambda` bootstraps both at the time
# limit and where a rollout of {glue:text}`ch02_n_steps` steps ends inside an
# episode; advantages are normalised per minibatch (§1.4); the loss adds the
# critic's squared error (weight {glue:text}`ch02_vf_coef`) to the surrogate, and
# the gradient's norm is clipped at {glue:text}`ch02_max_grad_norm`; and the
# log-probability is that of the Gaussian sample before the environment clips it
# to the action box. The grid below trains one run per environment and seed,
# through the course's learner interface (`gcrl.rl.learners.make_config`). Each
# run writes its learning curve, checkpoints and `metrics.json` under this
# chapter's results folder. A run that is interrupted resumes from its last
# checkpoint.

# %% [markdown]
# :::{admonition} Pseudocode: PPO (as Stable-Baselines3 runs it)
# :class: note
#
# The settings are named as in `ppo.yml` and §2: `n_envs`, `n_steps`, `n_epochs`,
# `batch_size`, `gamma` ($\gamma$), `gae_lambda` ($\lambda$), `clip_range` ($\kappa$),
# `vf_coef`, `ent_coef`, `max_grad_norm`, `learning_rate`. In Algorithm 1 of
# {cite:t}`schulman2017ppo` they are the $N$ = `n_envs` actors, the $K$ = `n_epochs`
# epochs and the minibatch size $M$ = `batch_size`.
#
# 1. Initialise the Gaussian policy $\pi_\theta$ and the critic $V_\psi$; set
#    $\theta_{\text{old}} \leftarrow \theta$.
# 2. **Rollout.** In each of the `n_envs` environments, for `n_steps` steps, on
#    observations normalised by running statistics (§2): sample
#    $a_t \sim \pi_{\theta_{\text{old}}}(\cdot \mid s_t, g)$ and store it with
#    $\log \pi_{\theta_{\text{old}}}(a_t \mid s_t, g)$ and $V_\psi(s_t, g)$; step the environment
#    with $a_t$ clipped to the action box, keeping the log-probability of the unclipped
#    sample. Where an episode is truncated at the time limit, add $\gamma V_\psi(s_T, g)$ to
#    its last reward and end the episode there: its last residual then bootstraps from
#    $V_\psi(s_T, g)$ rather than from zero (§1.3).
# 3. **Advantages.** Compute every $\delta_t$ and, by the backward recursion
#    $\hat A_t = \delta_t + \gamma\lambda \hat A_{t+1}$ stopped at each episode's end,
#    $\hat A_t^{\text{GAE}(\gamma, \lambda)}$ with $\lambda$ = `gae_lambda` (§1.3), bootstrapping from
#    $V_\psi$ of the next observation where the rollout ends inside an episode. The critic's
#    targets are $\hat A_t + V_\psi(s_t, g)$.
# 4. **Update.** For `n_epochs` epochs, shuffle the `n_envs` × `n_steps` stored steps
#    into minibatches of `batch_size`, and on each minibatch:
#    1. normalise $\hat A_t$ to zero mean and unit standard deviation
#       (`normalize_advantage`, §1.4);
#    2. form $w_t(\theta)$ from the stored $\log \pi_{\theta_{\text{old}}}$ (§1.2);
#    3. form the loss $-L^{\text{CLIP}}(\theta)$ with $\kappa$ = `clip_range`, averaged over the
#       minibatch with equal weights, without $\gamma^t$ (§1.1–1.2), plus `vf_coef` times the
#       squared error of $V_\psi$ against its targets, minus `ent_coef` times the policy's
#       entropy;
#    4. take one Adam step (`learning_rate`) on $\theta$ and $\psi$ together, with the
#       gradient's norm clipped at `max_grad_norm`.
# 5. Discard the rollout, set $\theta_{\text{old}} \leftarrow \theta$, and return to step 2 until
#    the run's budget of environment steps is spent.
# :::

# %%
runs_folder = training_runs(out, inputs_digest)
grid = ch02.run_grid(runs_folder, budget, session.seeds, run)
rows = experiments.summary_rows(grid)
pooled = experiments.pooled_by_env(rows)
experiments.runs_table(rows)

# %% [markdown]
# ### 3.1 Learning curves

# %%
seeds = session.seeds
curves = {
    task_name(env_id): {"PPO": [grid[(env_id, s)].curve for s in seeds]}
    for env_id in ch02.EXPERIMENTS
}
fig = learning_curves(curves)
publish(fig, out / "learning_curves.png", "ch02_curves_fig")

# %% [markdown]
# ```{glue:figure} ch02_curves_fig
# :name: fig-ch02-curves
#
# PPO's deterministic success rate on held-out episodes against environment
# steps, one panel per task. Thin lines: one per seed ({glue:text}`ch02_seeds` in
# all), on {glue:text}`ch02_eval_episodes` fixed episodes per evaluation. Thick
# line: the success rate pooled over seeds; band: its 95% Wilson interval, which
# treats the pooled episodes as exchangeable.
# ```

# %% tags=["hide-input"]
for env_id in ch02.EXPERIMENTS:
    glue(f"ch02_{task_name(env_id).lower()}", experiments.pooled_text(pooled[env_id]), display=False)
throughput = sum(r["env_steps_per_s"] for r in rows) / len(rows)
glue("ch02_throughput", f"{throughput:.0f}", display=False)
glue("ch02_steps", f"{budget.env_steps:,}", display=False)
glue("ch02_seeds", f"{budget.seeds}", display=False)
glue("ch02_eval_episodes", f"{budget.eval_episodes}", display=False)
floors = ch02.random_floors(session.upstream)
for env_id in ch02.EXPERIMENTS:
    glue(f"ch02_{task_name(env_id).lower()}_verdict",
         experiments.against_floor(pooled[env_id], floors[env_id]), display=False)

# %% [markdown]
# {numref}`fig-ch02-curves` shows the learning curves. After
# {glue:text}`ch02_steps` environment steps per run, the final deterministic
# success rates, pooled over seeds, are:
#
# - Reach, dense reward: {glue:text}`ch02_reachdense`, {glue:text}`ch02_reachdense_verdict`;
# - Reach, sparse reward: {glue:text}`ch02_reach`, {glue:text}`ch02_reach_verdict`;
# - Push, sparse reward: {glue:text}`ch02_push`, {glue:text}`ch02_push_verdict`.
#
# The floor is Chapter 1's random policy on the same task; a rate is called above
# (below) it when the 95% interval of the difference between the two rates
# (Newcombe's, from their Wilson intervals) lies entirely above (below) zero, and
# not distinguishable from it otherwise; the episodes of the seeds are pooled
# as if independent, which a between-seed spread would make too narrow. Training ran at
# {glue:text}`ch02_throughput` environment steps per second, averaged over runs,
# with evaluation excluded. Read against §1.4: the dense reward scores every
# action; the sparse reward on Reach gives a signal only on the steps that end
# within $\varepsilon$ of the goal; and on Push a reward other than $-1$ needs
# the block within $\varepsilon$ of the goal, which under random actions happens
# mostly where the block started there (Chapter 1, §3.4, measures how rarely
# random actions move the block by more than $\varepsilon$).
# Such rewards say nothing about which action to take.
#
# ### 3.2 The trained Reach policy

# %%
env_id = "FetchReachDense-v4"
best_seed = max(seeds, key=lambda s: grid[(env_id, s)].metrics["best_success_rate"])
policy = grid[(env_id, best_seed)].policy()
video_seeds = [20_000 + i for i in range(budget.video_episodes)]
frames, reached = video.record_episodes(env_id, policy, video_seeds, size=320)
mp4 = video.write_mp4(frames, out / "ppo_fetchreachdense.mp4",
                      fps=video.control_fps(env_id))
glue("ch02_video_reached", f"{sum(reached)} of {len(reached)}", display=False)
video.video_html(mp4, caption=f"PPO on {env_id}, seed {best_seed}, "
                              f"episodes {video_seeds}.")

# %% [markdown]
# The recorded policy reached the goal in {glue:text}`ch02_video_reached`
# recorded episodes, which were reset with seeds used neither in training nor in
# evaluation.
#
# ## 4. Verification and Sanity Checks

# %%
for (env_id, s), result in grid.items():
    m, final = result.metrics, result.metrics["final"]
    assert m["env_steps"] == budget.env_steps, (env_id, s, m["env_steps"])
    assert final["episodes"] == budget.eval_episodes
    assert final["ci95_low"] <= final["success_rate"] <= final["ci95_high"]
    steps = [row["env_steps"] for row in result.curve]
    assert steps == sorted(steps) and steps[-1] == budget.env_steps, steps
    assert m["eval_seeds"][0] >= 1_000_000, "evaluation seeds unseen in training"
for env_id, p in pooled.items():
    assert p["runs"] == budget.seeds
    assert p["episodes"] == budget.seeds * budget.eval_episodes
"all checks hold"

# %% [markdown]
# Every run used its whole budget, was evaluated on its grid of steps on held-out
# seeds, and reports a rate inside its own interval.
#
# The derivation of §1.1 is checked by computation. On a tabular MDP small enough
# to enumerate every trajectory, the expectation of each estimator is a finite
# sum, and the gradient of $J$ can be taken by central finite differences of the
# exact objective. `gcrl.rl.policy_gradient.gradient_check` compares the two.

# %%
pg_check = policy_gradient.gradient_check()
assert pg_check["relative_error_discounted"] < 1e-6, pg_check
assert pg_check["relative_error_undiscounted"] > 1e-3, pg_check
glue("ch02_pg_mdp", f"{pg_check['states']} states, {pg_check['actions']} actions, horizon {pg_check['horizon']} "
                    f"and γ = {pg_check['gamma']:g} ({pg_check['trajectories']:,} trajectories)", display=False)
glue("ch02_pg_err", f"{pg_check['relative_error_discounted']:.1e}", display=False)
glue("ch02_pg_err_plain", f"{pg_check['relative_error_undiscounted']:.0%}", display=False)
pd.Series(pg_check, name="value").to_frame()

# %% [markdown]
# On a random MDP with {glue:text}`ch02_pg_mdp`, the estimator with the
# $\gamma^t$ weight differs from the finite-difference gradient by a relative
# error of {glue:text}`ch02_pg_err`, the finite-difference error itself; the
# estimator without it, which PPO follows, is off by
# {glue:text}`ch02_pg_err_plain`. The same comparison, for three discounts, and the
# GAE identities of §1.3 against Stable-Baselines3 are tests of the course
# (`tests/test_policy_gradient.py`).
#
# ```{warning}
# The interval pooled over seeds treats all evaluation episodes as exchangeable,
# so it ignores the variation *between* seeds. With {glue:text}`ch02_seeds`
# seed(s) per task that variation cannot be estimated reliably. Chapter 6 replaces the pooled interval with
# stratified bootstrap intervals across many runs {cite:p}`agarwal2021rliable`.
# ```
#
# ## 5. Deliverables

# %%
write_deliverable(out, "ppo_results.json", {
    "experiments": list(ch02.EXPERIMENTS),
    "budget": {
        "env_steps": budget.env_steps, "seeds": budget.seeds,
        "eval_every": budget.eval_every, "eval_episodes": budget.eval_episodes,
    },
    "hyperparameters": ppo_config.hyperparams,
    "runs": rows,
    "pooled": pooled,
    "curves": {f"{k}-seed{s}": grid[k, s].curve for k, s in grid},
    "policy_gradient_check": pg_check,
}, run)
glue("ch02_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch02_profile", profile, display=False)
verified_table(results, profile, "ch02")

# %% [markdown]
# Under the {glue:text}`ch02_profile` profile the whole chapter took
# {glue:text}`ch02_wall_s` s from its first cell to its last. Each run's
# checkpoint, learning curve (`curve.csv`), TensorBoard log and `metrics.json`
# are kept under `runs/` in the chapter's results folder.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - PPO follows the equal-weight direction $\mathbb{E}\big[\sum_t \nabla_\theta \log \pi_\theta\, A_t\big]$,
#   not $\nabla_\theta J$ (§1.1); the clipped surrogate lets one batch serve several steps
#   without rewarding a ratio $w_t(\theta)$ outside $[1 - \kappa, 1 + \kappa]$, and it is
#   pessimistic, $L^{\text{CLIP}} \le L^{\text{IS}}$ (§1.2).
# - GAE's $\lambda$ moves the advantage estimate from the critic's bias ($\lambda = 0$) to the
#   sampled rewards' variance ($\lambda = 1$); at the time limit, and where a rollout ends
#   inside an episode, it bootstraps from $V_\psi$ rather than from zero (§1.3).
# - Under the sparse reward, a batch without a success is consistent with a constant
#   critic whose residuals vanish, and the per-minibatch normalisation scales the critic's
#   remaining noise up to a full-sized step in a random direction; on-policy sampling then discards each rare success after
#   `n_epochs` epochs (§1.4).
# - The dense reward ranks every action: on Reach with it PPO's final pooled success
#   rate was {glue:text}`ch02_reachdense`, {glue:text}`ch02_reachdense_verdict` (§3.1).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - Reach with the sparse reward, the obstacle of §1.4: final pooled success rate
#   {glue:text}`ch02_reach`, {glue:text}`ch02_reach_verdict`, after
#   {glue:text}`ch02_steps` environment steps per run (§3.1).
# - Push with the sparse reward, where a reward other than $-1$ needs the block at
#   the goal, and random actions rarely move it there (§3.1): {glue:text}`ch02_push`,
#   {glue:text}`ch02_push_verdict` (§3.1).
# - The direction PPO follows is not the gradient of $J$: on a tabular MDP the
#   estimator without $\gamma^t$ is off by {glue:text}`ch02_pg_err_plain`, against
#   {glue:text}`ch02_pg_err` for the estimator with it (§4).
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch02.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch02` (or
# `make check CHAPTER=ch02`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 2.1 (derivation): the discounted rewards-to-go.** In the
# policy-gradient theorem of §1.1 the score of the action at step $t$ is weighted
# by what follows it, not by the whole episode's return. Show that the terms
# $r_{t'+1}$ with $t' < t$ have zero expectation against
# $\nabla_\theta \log \pi_\theta(a_t \mid s_t)$, so that the weight may be
# $\gamma^t G_t$ with $G_t = \sum_{k \ge 0} \gamma^k r_{t+k+1}$ (the factor
# $\gamma^t$ stays outside, as §1.1 insists), and write `rewards_to_go(rewards,
# gamma)` computing every $G_t$ of one episode in one backward pass (`rewards[t]`
# is $r_{t+1}$, the reward that follows $a_t$).
#
# :::{dropdown} Solution
# For $t' < t$, $r_{t'+1}$ is fixed by the history up to $s_t$, so
# $\mathbb{E}[r_{t'+1} \nabla_\theta \log\pi_\theta(a_t \mid s_t)] =
# \mathbb{E}\big[r_{t'+1}\, \mathbb{E}_{a_t \sim \pi_\theta(\cdot \mid s_t)}[\nabla_\theta \log \pi_\theta(a_t \mid s_t)]\big]$
# and the inner expectation is $\sum_a \nabla_\theta \pi_\theta(a \mid s_t) =
# \nabla_\theta 1 = 0$. What remains weights the score by the rewards from $t$ on,
# discounted from time 0: $\sum_{k \ge t} \gamma^k r_{k+1} = \gamma^t G_t$.
# They satisfy $G_t = r_{t+1} + \gamma G_{t+1}$ with $G_T = 0$ past the end, one pass
# from the last step back.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch02.py
# :language: python
# :pyobject: rewards_to_go
# ```
# :::
#
# **Problem 2.2 (implementation): generalised advantage estimation.** Write
# `gae(rewards, values, next_values, gamma, lam)`, the GAE($\gamma, \lambda$)
# advantages of §1.3 for one stretch of an episode, where `next_values[t]` is
# $V(s_{t+1})$ (zero after a termination). Show first that with $\lambda = 1$ the
# sum telescopes to $G_t^{\text{bootstrapped}} - V(s_t)$ and that with $\lambda = 0$
# it is the TD error $\delta_t$. The check compares your advantages with the
# course's, which a test pins to Stable-Baselines3's.
#
# :::{dropdown} Solution
# With $\delta_t = r_{t+1} + \gamma V(s_{t+1}) - V(s_t)$,
# $\hat A_t = \sum_{l \ge 0} (\gamma\lambda)^l \delta_{t+l}$, so
# $\hat A_t = \delta_t + \gamma\lambda \hat A_{t+1}$. At $\lambda = 1$ the values
# cancel in pairs, $\sum_l \gamma^l \delta_{t+l} = \sum_l \gamma^l r_{t+l+1} +
# \gamma^{L} V(s_{t+L}) - V(s_t)$: the bootstrapped return minus the baseline,
# the least biased member of the family and the most variable. It is unbiased
# only if the stretch ends in a termination (or the critic is exact at its end):
# otherwise $\gamma^L V(s_{t+L})$ carries the critic's error, and a Fetch stretch
# always ends at a truncation or a rollout's cut (§1.3). At $\lambda = 0$ only
# $\delta_t$ remains: low variance, biased by the critic's error at $s_{t+1}$.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch02.py
# :language: python
# :pyobject: gae
# ```
# :::
#
# **Problem 2.3 (implementation): the clipped surrogate.** Write
# `clipped_surrogate(ratio, advantage, clip)`, PPO's per-sample objective
# $\min\big(w \hat A, \operatorname{clip}(w, 1-\kappa, 1+\kappa) \hat A\big)$ of §1.2, and
# explain from its graph (the figure of §1.2) why the minimum is taken: on which side
# of the clip range is the objective flat when $\hat A > 0$, and when $\hat A < 0$?
#
# :::{dropdown} Solution
# For $\hat A > 0$ the objective rises with $w$ until $1 + \kappa$ and is flat
# after it: no gradient pushes the new policy further toward an action already
# made more likely. Below $1 - \kappa$ it keeps $w A$, so an update that made
# a good action *less* likely is still corrected. For $\hat A < 0$ the picture is
# mirrored: flat below $1 - \kappa$, $w A$ above $1 + \kappa$. The minimum
# makes the objective a pessimistic (lower) bound on the unclipped surrogate.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch02.py
# :language: python
# :pyobject: clipped_surrogate
# ```
# :::
#
# **Problem 2.4 (diagnosis): advantages that leak across episodes.** A rollout
# of a fixed number of steps holds several episodes one after another. The stub's
# `rollout_advantages` computes GAE over the whole rollout; its advantages are
# biased near the end of every episode. Run the check, read the symptom, repair.
#
# :::{dropdown} Solution
# The recursion $\hat A_t = \delta_t + \gamma\lambda\hat A_{t+1}$ must stop at an
# episode's last step, terminated or truncated: $\hat A_{t+1}$ then belongs to the
# next episode, whose TD errors say nothing about this one. The stub masks the
# next *value* at a termination (correct) but not the recursion. At a truncation
# the last $\delta_t$ still bootstraps from $V(s_{t+1})$ (the episode was cut, not
# ended); only the sum stops.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch02.py
# :language: python
# :pyobject: rollout_advantages
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch02.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch02")
