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

# %% tags=["parameters", "hide-input"]
# Parameters: papermill overrides these; in JupyterLab they come from the environment.
import os

profile = os.environ.get("GCRL_PROFILE", "standard")
seed = 0
results_root = os.environ.get("GCRL_RESULTS", "")

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from gcrl import experiments, video
from gcrl.chapters import ch02_ppo as ch02
from gcrl.deliverables import verified_table, write_deliverable
from gcrl.envs import task_name
from gcrl.paths import training_runs
from gcrl.plots import learning_curves, save_figure
from gcrl.session import open_chapter

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch02", profile, seed, results_root)
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# This chapter asks the Learnability Question of the most widely used on-policy
# method, Proximal Policy Optimization {cite:p}`schulman2017ppo`, on three
# problems of increasing difficulty: Reach with a dense reward, Reach with the
# sparse reward, and Push with the sparse reward. We derive the policy-gradient
# theorem, the clipped surrogate objective and generalised advantage estimation
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
# $J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\big[\sum_{t=0}^{T-1} \gamma^t r_{t+1}\big]$
# its objective, where a trajectory $\tau$ has probability
#
# $$
# p_\theta(\tau) = p_g(g)\,\rho_0(s_0) \prod_{t=0}^{T-1} \pi_\theta(a_t \mid s_t, g)\, P(s_{t+1} \mid s_t, a_t).
# $$
#
# Writing $R(\tau)$ for the discounted return and using
# $\nabla_\theta p_\theta = p_\theta \nabla_\theta \log p_\theta$,
#
# $$
# \nabla_\theta J(\theta) = \mathbb{E}_{\tau \sim p_\theta}\big[R(\tau)\, \nabla_\theta \log p_\theta(\tau)\big]
# = \mathbb{E}_{\tau \sim p_\theta}\Big[R(\tau) \sum_{t} \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\Big],
# $$
#
# because the goal distribution, the initial distribution and the dynamics do not
# depend on $\theta$, so their logarithms have zero gradient. The simulator never
# has to be differentiated. An action cannot affect rewards that came before it,
# so $R(\tau)$ may be replaced by the reward-to-go $G_t$ without changing the
# expectation. For any function $b(s_t, g)$ that does not depend on the action,
# $\mathbb{E}_{a \sim \pi_\theta}[\nabla_\theta \log \pi_\theta(a \mid s, g)\, b(s, g)]
# = b(s, g)\, \nabla_\theta \int \pi_\theta(a \mid s, g)\, da = 0$. A baseline therefore
# changes the variance of the estimator but not its mean. The choice
# $b = V^{\pi}$ turns $G_t - b$ into an estimate of the advantage $A^{\pi}(s_t, a_t, g)$:
#
# $$
# \nabla_\theta J(\theta) = \mathbb{E}\Big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t, g)\, A^{\pi_\theta}(s_t, a_t, g)\Big].
# $$
#
# ### 1.2 From the gradient to a surrogate, and why PPO clips it
#
# The expectation above is taken under the *current* policy, so each batch of
# data supports exactly one gradient step. To take several optimiser steps on one
# batch collected by $\pi_{\theta_{\text{old}}}$, write the objective with the
# importance ratio $\rho_t(\theta) = \pi_\theta(a_t \mid s_t, g) / \pi_{\theta_{\text{old}}}(a_t \mid s_t, g)$:
#
# $$
# L^{\text{IS}}(\theta) = \mathbb{E}_{\pi_{\theta_{\text{old}}}}\big[\rho_t(\theta)\, \hat A_t\big],
# \qquad \nabla_\theta L^{\text{IS}}\big|_{\theta = \theta_{\text{old}}} = \nabla_\theta J(\theta_{\text{old}}).
# $$
#
# The surrogate matches the true objective to first order at $\theta_{\text{old}}$,
# and only there. It ignores that a changed policy also visits different states.
# Maximised without restraint, it drives $\rho_t$ far from 1 and exploits errors
# in $\hat A_t$. PPO removes the incentive to leave a neighbourhood of width
# $\epsilon$:
#
# $$
# L^{\text{CLIP}}(\theta) = \mathbb{E}\Big[\min\big(\rho_t(\theta)\, \hat A_t,\;
# \operatorname{clip}(\rho_t(\theta), 1 - \epsilon, 1 + \epsilon)\, \hat A_t\big)\Big].
# $$
#
# If $\hat A_t > 0$, the minimum is flat in $\theta$ once $\rho_t > 1 + \epsilon$:
# there is no gain in making a good action more likely than that. If
# $\hat A_t < 0$, it is flat once $\rho_t < 1 - \epsilon$. In both cases the
# clipped term is a pessimistic bound on the unclipped one.
#
# ### 1.3 Generalised advantage estimation
#
# With a learned critic $V_\phi$, the temporal-difference residual
# $\delta_t = r_{t+1} + \gamma V_\phi(s_{t+1}, g) - V_\phi(s_t, g)$ is an advantage
# estimate with low variance, biased by the critic's error. Summing $k$ residuals
# telescopes into a $k$-step return minus the baseline:
# $\sum_{l=0}^{k-1} \gamma^l \delta_{t+l} = \sum_{l=0}^{k-1}\gamma^l r_{t+l+1} + \gamma^k V_\phi(s_{t+k}, g) - V_\phi(s_t, g)$.
# The larger $k$, the less the estimate depends on the critic and the more on
# sampled rewards. GAE averages all $k$ with geometric weights
# $(1-\lambda)\lambda^{k-1}$, which collapses to
#
# $$
# \hat A_t^{\text{GAE}(\gamma, \lambda)} = \sum_{l=0}^{T-t-1} (\gamma \lambda)^l\, \delta_{t+l}.
# $$
#
# $\lambda = 0$ gives the one-step TD estimate (biased, low variance), and
# $\lambda = 1$ the Monte Carlo return minus the baseline (unbiased, high variance).
# At the time limit the episode is truncated, not terminated (Chapter 1), so the
# last residual bootstraps from $V_\phi(s_T, g)$ rather than from zero.
#
# ### 1.4 Why the sparse reward defeats on-policy learning
#
# Under the sparse reward, every step that misses the goal earns $-1$. Take a
# batch in which no step reaches the goal. Every return is then the same
# deterministic function of the time step, a critic fits it, the residuals
# $\delta_t$ are close to zero, and the advantages carry no information about
# which actions were better. The gradient of §1.1 is then pure noise. Useful
# signal comes only from steps that reach the goal. Chapter 1 measured how rare
# these are under a random policy, which is roughly where PPO starts: the
# fraction of steps at the goal was {glue:text}`ch02_ch1_reach` on Reach and
# {glue:text}`ch02_ch1_push` on Push. On-policy sampling compounds the problem. Each
# batch is used for a few epochs and then discarded, so a rare success
# contributes to a handful of gradient steps and is never seen again. The dense
# reward removes the obstacle: the reward $-d(\phi(s_{t+1}), g)$ ranks every
# action by how much it brings the achieved goal closer, whether or not the goal
# is ever reached.

# %% tags=["hide-input"]
step_success = ch02.random_policy_step_success(results, profile)
glue("ch02_ch1_reach", f"{step_success['FetchReach-v4']:.2%}", display=False)
glue("ch02_ch1_push", f"{step_success['FetchPush-v4']:.2%}", display=False)

# %% [markdown]
# ## 2. The Experimental Environment
#
# Every run uses the hyperparameters in `scripts/gcrl/hyperparams/ppo.yml`:
# four environments stepped in parallel processes, rollouts of 256 steps per
# environment, ten epochs of minibatch updates per rollout, observations
# normalised by running statistics. The profile sets the step budget, the number
# of seeds and the evaluation grid. Evaluation uses the deterministic policy on
# fixed held-out episodes whose seeds training never uses.

# %%
ppo_config = ch02.config("FetchReachDense-v4", seed, budget)
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
# The update rule is Stable-Baselines3's PPO {cite:p}`raffin2021sb3`, which
# implements §1.2–1.3 as derived: the clipped surrogate, GAE with $\lambda$ = 0.95,
# and bootstrapping on truncation. The grid below calls the course's single
# training entry point, `gcrl.train.train`, once per environment and seed. Each
# run writes its learning curve, checkpoints and `metrics.json` under this
# chapter's results folder. A run that is interrupted resumes from its last
# checkpoint.

# %%
runs_folder = training_runs(out)
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
save_figure(fig, out / "learning_curves.png")
glue("ch02_curves_fig", fig, display=False)
plt.close(fig)

# %% [markdown]
# ```{glue:figure} ch02_curves_fig
# :name: fig-ch02-curves
#
# PPO's deterministic success rate on held-out episodes against environment
# steps. Thin lines are individual seeds; the thick line is the success rate
# pooled over seeds, with its 95% Wilson interval.
# ```

# %% tags=["hide-input"]
for env_id in ch02.EXPERIMENTS:
    glue(f"ch02_{task_name(env_id).lower()}", experiments.pooled_text(pooled[env_id]), display=False)
throughput = sum(r["env_steps_per_s"] for r in rows) / len(rows)
glue("ch02_throughput", f"{throughput:.0f}", display=False)
glue("ch02_steps", f"{budget.env_steps:,}", display=False)

# %% [markdown]
# After {glue:text}`ch02_steps` environment steps per run, the final
# deterministic success rates, pooled over seeds, are:
#
# - Reach, dense reward: {glue:text}`ch02_reachdense`;
# - Reach, sparse reward: {glue:text}`ch02_reach`;
# - Push, sparse reward: {glue:text}`ch02_push`.
#
# Training ran at {glue:text}`ch02_throughput` environment steps per second,
# averaged over runs, with evaluation excluded. Compare these rates with the
# floors of Chapter 1 and with the argument of §1.4. Reach with the dense reward
# is the one problem on which every action is scored. Reach with the sparse
# reward gives a learning signal only on the rare steps that end within
# $\varepsilon$. Push gives almost none at all, because the block must first be
# touched, then moved, then stopped at the goal, before a single reward differs
# from $-1$.
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
# ```{warning}
# The interval pooled over seeds treats all evaluation episodes as exchangeable,
# so it ignores the variation *between* seeds. With three seeds that variation
# cannot be estimated reliably. Chapter 6 replaces the pooled interval with
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
}, run)
glue("ch02_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch02_profile", profile, display=False)
verified_table(results, profile, "ch02")

# %% [markdown]
# Under the {glue:text}`ch02_profile` profile the whole chapter took
# {glue:text}`ch02_wall_s` s from its first cell to its last. Each run's
# checkpoint, learning curve (`curve.csv`), TensorBoard log and `metrics.json`
# are kept under `runs/` in the chapter's results folder.
