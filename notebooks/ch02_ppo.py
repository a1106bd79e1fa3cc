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
# Parameters: papermill overrides these. Empty means: the profile from $GCRL_PROFILE (else the
# default of gcrl.course.profiles), the results folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 0
results_root = ""

# %% tags=["hide-input"]
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
from gcrl.rl.recipes import library_default

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch02", profile, seed, results_root)
profile = session.profile
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
# (below) it when its Wilson interval lies entirely above (below) the floor's, and
# not distinguishable from it otherwise. Training ran at
# {glue:text}`ch02_throughput` environment steps per second, averaged over runs,
# with evaluation excluded. Read against §1.4: the dense reward scores every
# action; the sparse reward on Reach gives a signal only on the steps that end
# within $\varepsilon$ of the goal; and on Push almost every reward that differs
# from $-1$ comes from an episode whose block started within $\varepsilon$ of the
# goal (Chapter 1 measured how often), which says nothing about which action to
# take.
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
