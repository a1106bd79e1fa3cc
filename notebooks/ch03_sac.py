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
# # Chapter 3 — Soft Actor-Critic

# %% tags=["parameters", "remove-cell"]
# Parameters: papermill overrides these, and they are all the runner tells a chapter. Empty means, as
# in JupyterLab: the profile from $GCRL_PROFILE (else the default of gcrl.course.profiles), the results
# folder from $GCRL_RESULTS (else results/).
profile = ""
seed = 1000  # the first reporting seed (gcrl.core.seeds); the chapter uses it and the next ones
results_root = ""
inputs_digest = "interactive"  # the runner's digest of the chapter's inputs: the key of its resumable training runs

# %% tags=["remove-input"]
import pandas as pd
from IPython.display import Markdown, display
from myst_nb import glue

from gcrl.analysis import experiments
from gcrl.analysis.plots import learning_curves, publish, temperature_traces
from gcrl.chapters import ch01_anatomy as ch01
from gcrl.chapters import ch03_sac as ch03
from gcrl.core.paths import training_runs
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.session import open_chapter
from gcrl.rl import video
from gcrl.rl.envs import episode_length, task_name
from gcrl.rl.evaluate import ENTROPY_SAMPLES

pd.set_option("display.max_colwidth", None)
session = open_chapter("ch03", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# Chapter 2 located the obstacle for PPO in two places: a sparse reward that
# gives the advantage estimator nothing to rank, and an on-policy estimator that
# discards every batch after a few epochs. This chapter removes the second
# obstacle and keeps the first. Soft Actor-Critic {cite:p}`haarnoja2018sac`
# learns off-policy from a {term}`replay buffer`, so every transition it has ever
# collected keeps contributing to its updates, and it explores by maximising
# entropy alongside reward. We derive the {term}`maximum-entropy <maximum-entropy objective>` objective, the soft
# Bellman backup and its contraction, soft policy improvement, the losses that
# approximate them, the reparameterised policy gradient and the automatic
# tuning of the {term}`temperature`. We then train SAC, without hindsight relabelling, on
# Reach with the dense and the sparse reward and on Push with the sparse reward.
# The seeds and evaluation episodes are those of Chapter 2, so that success
# against environment steps compares the two methods directly. A sanity check
# confirms that the learned temperature moves as its derivation says it must.
#
# ## 1. Theoretical Foundations
#
# Throughout, the goal $g$ is part of the state as far as the learner is
# concerned: $Q(s, a, g)$ and $\pi(a \mid s, g)$. We drop $g$ from the notation
# where it changes nothing.
#
# ### 1.1 The maximum-entropy objective
#
# The standard objective of Chapter 2 rewards only the task. The maximum-entropy
# objective also rewards the policy for remaining random, in proportion to a
# temperature $\alpha > 0$:
#
# $$
# J_\alpha(\pi) = \mathbb{E}_{\tau \sim p_\pi}\Big[\sum_{t=0}^{\infty} \gamma^t \big( r_{t+1} + \alpha\, \mathcal{H}(\pi(\cdot \mid s_t)) \big)\Big],
# \qquad \mathcal{H}(\pi(\cdot \mid s)) = -\mathbb{E}_{a \sim \pi(\cdot \mid s)}\big[\log \pi(a \mid s)\big],
# $$
#
# over the unbounded horizon of the continuing task, which the episodes of $T$
# steps sample in truncated pieces (Chapter 2, §1.1). As $\alpha \to 0$ the
# standard objective is recovered. For $\alpha > 0$ two
# policies with equal return are no longer equivalent: the one that keeps more
# actions plausible scores higher. Exploration thereby becomes part of what is
# optimised rather than noise added from outside, and it is spent where the
# return does not discriminate between actions
# {cite:p}`haarnoja2017sql`. For a continuous action the entropy is a
# differential entropy and may be negative. On Fetch, where
# $\mathcal{A} = [-1, 1]^4$, it is bounded above by that of the uniform
# distribution, $4 \log 2$ nats, and unbounded below.
#
# ### 1.2 Soft policy evaluation
#
# For the standard objective, the action value of a fixed policy $\pi$ is the
# fixed point of the Bellman expectation operator
#
# $$
# (\mathcal{T}_0^\pi Q)(s, a) = r(s, a) + \gamma\, \mathbb{E}_{s' \sim P(\cdot \mid s, a),\, a' \sim \pi(\cdot \mid s')}\big[Q(s', a')\big],
# $$
#
# with $r(s, a) = \mathbb{E}[r_{t+1} \mid s_t = s, a_t = a]$: one step of reward,
# then the value of continuing with $\pi$ {cite:p}`sutton2018rl`; its fixed point is
# the action value $Q^\pi$ of the notation page. Define the *soft* value
# functions of a fixed policy $\pi$, written $V_\alpha^\pi$ and $Q_\alpha^\pi$ to keep
# them apart from those, by moving the entropy bonus of each visited state into
# the value of the state where it is earned:
#
# $$
# V_\alpha^\pi(s) = \mathbb{E}_{a \sim \pi(\cdot \mid s)}\big[Q_\alpha^\pi(s, a) - \alpha \log \pi(a \mid s)\big],
# \qquad
# Q_\alpha^\pi(s, a) = r(s, a) + \gamma\, \mathbb{E}_{s' \sim P(\cdot \mid s, a)}\big[V_\alpha^\pi(s')\big].
# $$
#
# The second equation is the fixed point of the soft Bellman operator
# $(\mathcal{T}^\pi Q)(s, a) = r(s, a) + \gamma\, \mathbb{E}_{s', a' \sim \pi}\big[Q(s', a') - \alpha \log \pi(a' \mid s')\big]$.
# For two functions $Q_1, Q_2$ the entropy terms cancel in the difference:
#
# $$
# \big|(\mathcal{T}^\pi Q_1)(s, a) - (\mathcal{T}^\pi Q_2)(s, a)\big|
# = \gamma\, \big|\mathbb{E}_{s', a'}\big[Q_1(s', a') - Q_2(s', a')\big]\big|
# \le \gamma\, \lVert Q_1 - Q_2 \rVert_\infty .
# $$
#
# $\mathcal{T}^\pi$ is therefore a $\gamma$-contraction in the supremum norm,
# provided the entropy is bounded so that the operator maps bounded functions to
# bounded functions. Repeated application converges to the unique fixed point
# $Q_\alpha^\pi$ from any bounded start. Writing
# $-\mathbb{E}_{a' \sim \pi}[\log \pi(a' \mid s')] = \mathcal{H}(\pi(\cdot \mid s'))$ shows that the
# soft operator is $\mathcal{T}_0^\pi$ applied to the augmented reward
# $r(s, a) + \gamma\, \alpha\, \mathbb{E}_{s'}\big[\mathcal{H}(\pi(\cdot \mid s'))\big]$:
# the entropy bonus is earned in the next state, discounted once and weighed by
# the temperature.
#
# ### 1.3 Soft policy improvement
#
# Given $Q_\alpha^{\pi_{\text{old}}}$, let the new policy be, in every state, the
# member of a tractable family $\Pi$ (for us, squashed Gaussians) closest in
# Kullback–Leibler divergence to the Boltzmann distribution of the soft
# $Q$-function:
#
# $$
# \pi_{\text{new}}(\cdot \mid s) = \arg\min_{\pi' \in \Pi}\;
# \mathrm{KL}\Big(\pi'(\cdot \mid s) \,\Big\|\, \frac{\exp\big(Q_\alpha^{\pi_{\text{old}}}(s, \cdot)/\alpha\big)}{Z^{\pi_{\text{old}}}(s)}\Big).
# $$
#
# The partition function $Z$ does not depend on $\pi'$, so the divergence is,
# up to the constant $\log Z(s)$, equal to
# $\mathbb{E}_{a \sim \pi'}\big[\log \pi'(a \mid s) - Q_\alpha^{\pi_{\text{old}}}(s, a)/\alpha\big]$.
# Because $\pi_{\text{old}} \in \Pi$ is a candidate, the minimiser does at least as well:
#
# $$
# \mathbb{E}_{a \sim \pi_{\text{new}}}\big[Q_\alpha^{\pi_{\text{old}}}(s, a) - \alpha \log \pi_{\text{new}}(a \mid s)\big]
# \;\ge\; \mathbb{E}_{a \sim \pi_{\text{old}}}\big[Q_\alpha^{\pi_{\text{old}}}(s, a) - \alpha \log \pi_{\text{old}}(a \mid s)\big]
# = V_\alpha^{\pi_{\text{old}}}(s).
# $$
#
# Substitute this inequality into the soft Bellman equation of $\pi_{\text{old}}$
# and expand one step at a time:
#
# $$
# Q_\alpha^{\pi_{\text{old}}}(s_0, a_0)
# = r_1 + \gamma\, \mathbb{E}_{s_1}\big[V_\alpha^{\pi_{\text{old}}}(s_1)\big]
# \le r_1 + \gamma\, \mathbb{E}_{s_1,\, a_1 \sim \pi_{\text{new}}}\big[Q_\alpha^{\pi_{\text{old}}}(s_1, a_1) - \alpha \log \pi_{\text{new}}(a_1 \mid s_1)\big]
# \le \cdots \le Q_\alpha^{\pi_{\text{new}}}(s_0, a_0).
# $$
#
# Each step replaces one more action of $\pi_{\text{old}}$ by one of
# $\pi_{\text{new}}$, and in the limit every action is drawn from
# $\pi_{\text{new}}$. Alternating evaluation (§1.2) and improvement therefore
# never decreases the {term}`soft value`. In a finite setting it converges to the
# optimal maximum-entropy policy within $\Pi$ {cite:p}`haarnoja2018sac`.
#
# ### 1.4 From operators to losses
#
# With neural networks, neither step can be carried out exactly. Each becomes a
# stochastic gradient step on a loss estimated from a replay buffer
# $\mathcal{B}$ of stored transitions $(s, a, r, s', g)$. The critic $Q_{\psi_j}$ (the
# parameters of value networks are written $\psi$ throughout the book) regresses
# onto a sampled soft Bellman target:
#
# $$
# \mathcal{L}_Q(\psi_j) = \mathbb{E}_{(s, a, r, s') \sim \mathcal{B}}\Big[\tfrac{1}{2}\big(Q_{\psi_j}(s, a) - y\big)^2\Big],
# \qquad
# y = r + \gamma (1 - \mathbb{1}_{\mathrm{term}}) \Big(\min_{i = 1, 2} Q_{\bar\psi_i}(s', a') - \alpha \log \pi_\theta(a' \mid s')\Big),
# \quad a' \sim \pi_\theta(\cdot \mid s').
# $$
#
# Three details of the target matter. First, it needs $s'$ and a *fresh* action
# $a'$ from the current policy, never the action the behaviour policy took in
# $s'$. Any stored transition therefore estimates the current policy's backup,
# whichever policy collected it. This is why SAC is off-policy, and it is the
# property that Chapter 4 will exploit. Second, two critics are trained and the
# target takes the smaller of their target-network values. Maximising over a
# noisy estimate biases it upwards, and the minimum counteracts that bias
# {cite:p}`fujimoto2018td3`. The target networks $\bar\psi_i$ trail the critics by
# Polyak averaging, $\bar\psi \leftarrow \beta \psi + (1 - \beta)\bar\psi$ with a rate
# $\beta$ (`tau` in Stable-Baselines3). Third, $\mathbb{1}_{\mathrm{term}}$ marks
# termination, and Fetch episodes never terminate; they are truncated at
# $T$ = {glue:text}`ch03_horizon` steps (Chapter 1). So $\mathbb{1}_{\mathrm{term}} = 0$
# on every transition, and the target bootstraps at the time limit as well.
#
# ### 1.5 The reparameterised policy gradient
#
# The actor minimises the divergence of §1.3 with the current critic in place
# of $Q_\alpha^{\pi_{\text{old}}}$ (and multiplied by $\alpha$):
#
# $$
# \mathcal{L}_\pi(\theta) = \mathbb{E}_{s \sim \mathcal{B}}\Big[\mathbb{E}_{a \sim \pi_\theta(\cdot \mid s)}\big[\alpha \log \pi_\theta(a \mid s) - \min_i Q_{\psi_i}(s, a)\big]\Big].
# $$
#
# The inner expectation is over a distribution that depends on $\theta$. The
# likelihood-ratio estimator of Chapter 2 would apply, but it uses only the
# *value* of the critic at the sampled action. Here the critic is
# differentiable in $a$, and a lower-variance estimator uses its slope. Write the
# action as a deterministic, differentiable function of $\theta$ and of noise
# whose distribution does not depend on $\theta$ {cite:p}`kingma2014vae`:
#
# $$
# a = f_\theta(\zeta; s) = \tanh\big(m_\theta(s) + \sigma_\theta(s) \odot \zeta\big),
# \qquad \zeta \sim \mathcal{N}(0, I),
# $$
#
# where $m_\theta$ and $\sigma_\theta$ are the mean and standard deviation that the
# network outputs before squashing. The expectation is now over $\zeta$, so the
# gradient passes inside it:
#
# $$
# \nabla_\theta \mathcal{L}_\pi = \mathbb{E}_{s, \zeta}\Big[\alpha\, \nabla_\theta \log \pi_\theta(a \mid s)
# + \big(\alpha\, \nabla_a \log \pi_\theta(a \mid s) - \nabla_a \min_i Q_{\psi_i}(s, a)\big)\, \nabla_\theta f_\theta(\zeta; s)\Big]_{a = f_\theta(\zeta; s)} .
# $$
#
# The term $\nabla_a Q$ tells the actor in which direction the critic expects
# the return to increase. The $\tanh$ keeps actions inside the box, and its
# Jacobian enters the density by the change of variables $a = \tanh(u)$:
#
# $$
# \log \pi_\theta(a \mid s) = \log \mathcal{N}\big(u;\, m_\theta(s), \operatorname{diag}\sigma_\theta^2(s)\big) - \sum_{i=1}^{4} \log\big(1 - \tanh^2(u_i)\big).
# $$
#
# Omitting the correction would score an action pinned at the boundary as if it
# were as uncertain as the Gaussian before squashing.
#
# ### 1.6 Tuning the temperature automatically
#
# The right $\alpha$ depends on the scale of the reward. The dense reward of
# Reach is minus a distance, whose mean at reset Chapter 1 measured as
# {glue:text}`ch03_reach_d0` m, the sparse one a $-1$ per step. What the
# temperature trades against entropy is how much the value changes from one
# action to another, and that scales with the reward: a temperature suited to
# one reward is mis-scaled for the other. SAC instead fixes the *entropy* and
# learns the temperature {cite:p}`haarnoja2018sacapps`. The problem becomes:
# maximise the expected return subject to a minimum *expected* entropy at every
# time step, the expectation taken over the states the policy visits,
# $\mathbb{E}_{(s_t, a_t) \sim \pi}\big[-\log \pi(a_t \mid s_t)\big] \ge \bar{\mathcal{H}}$.
# (A constraint in every state separately would need a multiplier per state; one
# scalar temperature is the multiplier of the averaged constraint.) For the
# current policy, the dual variable minimises
#
# $$
# \mathcal{L}(\alpha) = \mathbb{E}_{s \sim \mathcal{B},\, a \sim \pi(\cdot \mid s)}\big[-\alpha \log \pi(a \mid s) - \alpha \bar{\mathcal{H}}\big]
# = \alpha\,\big(\mathcal{H}(\pi) - \bar{\mathcal{H}}\big),
# \qquad \frac{\partial \mathcal{L}}{\partial \alpha} = \mathcal{H}(\pi) - \bar{\mathcal{H}} .
# $$
#
# Gradient descent therefore *lowers* $\alpha$ while the policy's entropy is
# above its target, letting the reward dominate, and *raises* it while the
# entropy is below, pushing the policy back towards randomness. Optimising
# $\log \alpha$ instead of $\alpha$ keeps it positive without changing the sign
# of the step. The usual target is $\bar{\mathcal{H}} = -\dim \mathcal{A}$. This
# is a heuristic, not a derived value. The prediction is testable. The initial
# policy squashes a unit Gaussian, so its entropy is far above $-4$. Hence
# $\alpha$ must fall from its initial value of 1, and it must keep moving in the
# direction that drives the entropy towards its target. Section 4 checks this
# for every run.
#
# ### 1.7 What to expect on Fetch
#
# Off-policy learning removes one half of Chapter 2's obstacle. A rare
# success stays in the buffer and is replayed in many minibatches, and the
# critic propagates its value backwards through the stored transitions that
# led to it. It does nothing about the other half: if exploration never
# reaches the goal, the buffer holds no success to replay. On Reach, random
# exploration reaches the goal occasionally, and we expect SAC to learn both
# reward variants in fewer environment steps than PPO. On Push, exploration
# must first touch the block and then move it to the goal, and we expect SAC
# without hindsight to stay near the floor measured in Chapter 1. Section 3.1
# tests both expectations.

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - the maximum-entropy objective:
#   $J_\alpha(\pi) = \mathbb{E}_{\tau \sim p_\pi}\Big[\sum_{t=0}^{\infty} \gamma^t \big( r_{t+1} + \alpha\, \mathcal{H}(\pi(\cdot \mid s_t)) \big)\Big]$ (§1.1)
# - the soft Bellman operator, a $\gamma$-contraction in the supremum norm for bounded entropy:
#   $(\mathcal{T}^\pi Q)(s, a) = r(s, a) + \gamma\, \mathbb{E}_{s', a' \sim \pi}\big[Q(s', a') - \alpha \log \pi(a' \mid s')\big]$ (§1.2)
# - the critics' target, regressed by $\mathcal{L}_Q(\psi_j)$:
#   $y = r + \gamma (1 - \mathbb{1}_{\mathrm{term}}) \Big(\min_{i = 1, 2} Q_{\bar\psi_i}(s', a') - \alpha \log \pi_\theta(a' \mid s')\Big)$,
#   $a' \sim \pi_\theta(\cdot \mid s')$, with the targets trailing by
#   $\bar\psi \leftarrow \beta \psi + (1 - \beta)\bar\psi$ (§1.4)
# - the actor's loss:
#   $\mathcal{L}_\pi(\theta) = \mathbb{E}_{s \sim \mathcal{B}}\Big[\mathbb{E}_{a \sim \pi_\theta(\cdot \mid s)}\big[\alpha \log \pi_\theta(a \mid s) - \min_i Q_{\psi_i}(s, a)\big]\Big]$ (§1.5)
# - the reparameterised, squashed action and its log-density:
#   $a = f_\theta(\zeta; s) = \tanh\big(m_\theta(s) + \sigma_\theta(s) \odot \zeta\big)$, $\zeta \sim \mathcal{N}(0, I)$;
#   $\log \pi_\theta(a \mid s) = \log \mathcal{N}\big(u;\, m_\theta(s), \operatorname{diag}\sigma_\theta^2(s)\big) - \sum_{i=1}^{4} \log\big(1 - \tanh^2(u_i)\big)$ (§1.5)
# - the temperature's loss and its gradient:
#   $\mathcal{L}(\alpha) = \mathbb{E}_{s \sim \mathcal{B},\, a \sim \pi(\cdot \mid s)}\big[-\alpha \log \pi(a \mid s) - \alpha \bar{\mathcal{H}}\big]$,
#   $\frac{\partial \mathcal{L}}{\partial \alpha} = \mathcal{H}(\pi) - \bar{\mathcal{H}}$ (§1.6)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# Every run uses the SAC recipe in `scripts/gcrl/rl/hyperparams/sac.yml`, with
# hindsight relabelling switched off for this chapter. There is one environment
# per run, one gradient step per environment step after `learning_starts`
# random steps, and observations are normalised by running statistics. The
# replay buffer is sized to hold the whole run, so no transition is ever
# evicted. The
# temperature is learned (`ent_coef: auto`) with the target entropy
# $-\dim\mathcal{A}$. Push uses its recipe's network ({glue:text}`ch03_push_net`)
# and batch ({glue:text}`ch03_push_batch`); under this profile Chapter 4 trains
# Push with {glue:text}`ch03_ch4_push`. The seeds and the evaluation episodes are
# those of Chapter 2: the same number of seeds per environment, the same fixed
# held-out episode seeds, the same deterministic evaluation.

# %%
sac_configs = {env_id: ch03.config(env_id, seed, budget) for env_id in ch03.EXPERIMENTS}
push_recipe = sac_configs["FetchPush-v4"].hyperparams
glue("ch03_push_net", " × ".join(map(str, push_recipe["policy_kwargs"]["net_arch"])), display=False)
glue("ch03_push_batch", f"{push_recipe['batch_size']}", display=False)
glue("ch03_ch4_push", ch03.chapter4_push_setting(profile), display=False)
glue("ch03_horizon", f"{episode_length('FetchReach-v4')}", display=False)
settings = pd.DataFrame({
    task_name(env_id): {
        "env steps per run": c.total_steps,
        "seeds": budget.seeds,
        "evaluate every (env steps)": c.eval_every,
        "episodes per evaluation": c.eval_episodes,
        "hindsight relabelling": c.her,
        **{k: str(v) for k, v in c.hyperparams.items()},
    }
    for env_id, c in sac_configs.items()
}).fillna("library default")
settings

# %% [markdown]
# ## 3. Implementation Details
#
# The update is Stable-Baselines3's SAC {cite:p}`raffin2021sb3`. One gradient
# step, in the order the library performs it, is §1.4–1.6 as derived:
#
# | step | equation | in `stable_baselines3/sac/sac.py` |
# |---|---|---|
# | sample $a \sim \pi_\theta(\cdot \mid s)$ by reparameterisation, with its squashed log-density | §1.5 | `actor.action_log_prob` |
# | temperature step on $\log\alpha$ | §1.6 | `ent_coef_loss` |
# | critic target $y$ with $\min_i Q_{\bar\psi_i}$ and the entropy term | §1.4 | `target_q_values` |
# | critic regression on both critics | §1.4 | `critic_loss` |
# | actor step on $\alpha \log\pi - \min_i Q_{\psi_i}$ | §1.5 | `actor_loss` |
# | Polyak update of the target critics with rate $\beta$ (`tau`) | §1.4 | `polyak_update` |
#
# The grid calls the course's training entry point once per environment and
# seed. The runs are independent, so they train in parallel worker processes,
# one per CPU core, each restricted to a single thread. A run's results, though
# not its speed, therefore do not depend on how many others share the machine. Each run
# records, at every evaluation, the temperature and a Monte Carlo estimate of
# the policy's entropy on {glue:text}`ch03_entropy_samples` stored observations.
# That estimate uses its own random stream, so recording it does not perturb
# training.

# %% [markdown]
# :::{admonition} Pseudocode: SAC with the automatic temperature (as Stable-Baselines3 runs it)
# :class: note
#
# The settings are named as in `sac.yml` and §2: `buffer_size`, `learning_starts`,
# `batch_size`, `gamma` ($\gamma$), `tau` ($\beta$), `learning_rate`, and `ent_coef: auto`
# with the target entropy $\bar{\mathcal{H}} = -\dim\mathcal{A}$.
#
# 1. Initialise the actor $\pi_\theta$, the twin critics $Q_{\psi_1}, Q_{\psi_2}$, their target
#    networks $\bar\psi_i \leftarrow \psi_i$, and $\log\alpha = 0$, so that $\alpha$ starts at 1 (§1.6);
#    the replay buffer $\mathcal{B}$ holds `buffer_size` transitions and starts empty.
# 2. At every environment step, act uniformly at random on the action box for the first
#    `learning_starts` steps and with $a \sim \pi_\theta(\cdot \mid s, g)$ after them; store
#    $(s, a, r, s', g)$ in $\mathcal{B}$, with $\mathbb{1}_{\mathrm{term}} = 0$ at the time limit (§1.4).
# 3. After the first `learning_starts` steps, follow every environment step with one
#    gradient step (§2; `train_freq` and `gradient_steps` in Stable-Baselines3) on a
#    minibatch of `batch_size` transitions drawn uniformly from $\mathcal{B}$:
#    1. draw $\zeta \sim \mathcal{N}(0, I)$ and form the reparameterised action $f_\theta(\zeta; s)$
#       for every $s$ of the minibatch, with its squashed log-density (§1.5);
#    2. **temperature:** one step on $\log\alpha$ with gradient $\mathcal{H}(\pi) - \bar{\mathcal{H}}$,
#       estimated as the minibatch mean of $-\log \pi_\theta(f_\theta(\zeta; s) \mid s) - \bar{\mathcal{H}}$
#       with the log-densities held fixed (§1.6); the rest of the gradient step uses
#       $\alpha$ as it was before this update;
#    3. **critics' target:** $y$ with a fresh $a' \sim \pi_\theta(\cdot \mid s')$, the smaller of the
#       two target critics and the entropy term, without gradient (§1.4);
#    4. **critics:** one step on $\mathcal{L}_Q(\psi_1) + \mathcal{L}_Q(\psi_2)$ at the stored
#       actions (§1.4);
#    5. **actor:** one step on $\mathcal{L}_\pi(\theta)$ with the actions of step 3.1 and the
#       critics just updated (§1.5);
#    6. **targets:** $\bar\psi_i \leftarrow \beta \psi_i + (1 - \beta)\bar\psi_i$ with $\beta$ = `tau` (§1.4).
#
# Algorithm 1 of {cite:t}`haarnoja2018sacapps` takes the same steps, but updates the
# temperature after the actor rather than before the critics.
# :::

# %% tags=["hide-input"]
glue("ch03_entropy_samples", f"{ENTROPY_SAMPLES:,}", display=False)

# %%
runs_folder = training_runs(out, inputs_digest)
grid = ch03.run_grid(runs_folder, budget, session.seeds, run)
rows = experiments.summary_rows(grid)
pooled = experiments.pooled_by_env(rows)
experiments.runs_table(rows)

# %% [markdown]
# ### 3.1 SAC against PPO, step for step
#
# Chapter 2's PPO runs share these seeds and evaluation episodes. Their
# learning curves are read from Chapter 2's deliverable and drawn on the same
# axes.

# %%
seeds = session.seeds
ppo = ch03.ppo_results(session.upstream)
sac_curves = {env_id: [grid[(env_id, s)].curve for s in seeds] for env_id in ch03.EXPERIMENTS}
ppo_curves = {env_id: ch03.ppo_curves(ppo, env_id, seeds) for env_id in ch03.EXPERIMENTS}
fig = learning_curves({
    task_name(env_id): {"SAC": sac_curves[env_id], "PPO": ppo_curves[env_id]}
    for env_id in ch03.EXPERIMENTS
})
publish(fig, out / "learning_curves.png", "ch03_curves_fig")

# %% [markdown]
# ```{glue:figure} ch03_curves_fig
# :name: fig-ch03-curves
#
# Deterministic success rate on the same held-out episodes against environment
# steps, one panel per task: SAC without hindsight (this chapter) and PPO
# (Chapter 2). Thin lines: one per seed ({glue:text}`ch03_seeds` per method),
# on {glue:text}`ch03_eval_episodes` fixed episodes per evaluation. Thick lines:
# the success rate pooled over seeds; bands: its 95% Wilson interval, which
# treats the pooled episodes as exchangeable.
# ```
#
# {numref}`fig-ch03-curves` compares the two methods. Sample efficiency is
# compared in two ways. The first is the number of environment steps after which
# the pooled success rate first reaches the threshold. Each method knows this
# only to within its own evaluation grid ({glue:text}`ch03_grids`): the first
# crossing is rounded up to the next evaluation, so the coarser grid is
# penalised by up to one of its intervals. The second is the success rate of
# each method at SAC's budget; PPO is read at its first evaluation at or after
# that step, so there a difference between the grids can only favour PPO.

# %%
comparison = {
    env_id: experiments.compare_sample_efficiency(sac_curves[env_id], ppo_curves[env_id], ch03.THRESHOLD)
    for env_id in ch03.EXPERIMENTS
}

# %% tags=["hide-input"]
def rate(p):
    return "—" if p is None else f"{p['success_rate']:.2f} [{p['ci95_low']:.2f}, {p['ci95_high']:.2f}]"


def steps(n):
    return "not reached" if n is None else f"{n:,}"


pd.DataFrame({
    task_name(env_id): {
        f"SAC: env steps to {c['threshold']:.0%}": steps(c["ours_steps_to_threshold"]),
        f"PPO: env steps to {c['threshold']:.0%}": steps(c["theirs_steps_to_threshold"]),
        "SAC's budget (env steps)": f"{c['budget_env_steps']:,}",
        "SAC success at its budget": rate(c["ours_at_budget"]),
        "PPO read at (env steps)": "—" if c["theirs_at_budget"] is None
        else f"{c['theirs_at_budget']['env_steps']:,}",
        "PPO success there": rate(c["theirs_at_budget"]),
    }
    for env_id, c in comparison.items()
})

# %% tags=["hide-input"]
def efficiency_text(env_id):
    c = comparison[env_id]
    sac_steps, ppo_steps = c["ours_steps_to_threshold"], c["theirs_steps_to_threshold"]
    if sac_steps is None:
        return f"SAC did not reach {c['threshold']:.0%} within {c['budget_env_steps']:,} env steps"
    text = f"SAC first reached {c['threshold']:.0%} after {sac_steps:,} env steps"
    if ppo_steps is None:
        longest = ppo_curves[env_id][0][-1]["env_steps"]
        return text + f"; PPO did not reach it within its {longest:,}"
    return text + f", PPO after {ppo_steps:,}: {c['steps_ratio']:.1f} times as many, to within the two grids"


for env_id in ch03.EXPERIMENTS:
    task = task_name(env_id).lower()
    glue(f"ch03_{task}", experiments.pooled_text(pooled[env_id]), display=False)
    glue(f"ch03_{task}_eff", efficiency_text(env_id), display=False)
glue("ch03_reach_steps", f"{budget.reach_env_steps:,}", display=False)
glue("ch03_seeds", f"{budget.seeds}", display=False)
glue("ch03_eval_episodes", f"{budget.eval_episodes}", display=False)
ppo_budget = ppo["budget"]
glue("ch03_grids", f"every {budget.eval_every:,} env steps for SAC, every {ppo_budget['eval_every']:,} for PPO",
     display=False)
glue("ch03_updates_per_step", ch03.updates_per_step_text(sac_configs["FetchReach-v4"]), display=False)
glue("ch03_ppo_epochs", f"{ppo['hyperparameters']['n_epochs']}", display=False)
glue("ch03_push_verdict", experiments.against_floor(pooled["FetchPush-v4"], ch01.floors(
    session.upstream, "FetchPush-v4")["random"]), display=False)
glue("ch03_push_steps", f"{budget.push_env_steps:,}", display=False)
for task, env_ids in {"reach": ("FetchReachDense-v4", "FetchReach-v4"), "push": ("FetchPush-v4",)}.items():
    speeds = [r["env_steps_per_s"] for r in rows if r["env_id"] in env_ids]
    glue(f"ch03_{task}_throughput", f"{sum(speeds) / len(speeds):.0f}", display=False)
ppo_speeds = [r["env_steps_per_s"] for r in ppo["runs"] if r["env_id"].startswith("FetchReach")]
glue("ch03_ppo_throughput", f"{sum(ppo_speeds) / len(ppo_speeds):.0f}", display=False)
floor = ch01.floors(session.upstream, "FetchPush-v4")
glue("ch03_push_floor", "; ".join(
    f"{name} actions {row['success_rate']:.1%} (95% CI [{row['success_ci95'][0]:.1%}, "
    f"{row['success_ci95'][1]:.1%}], {row['episodes']} episodes)"
    for name, row in floor.items()), display=False)

# %% [markdown]
# The final deterministic success rates of SAC without hindsight, pooled over
# seeds, are:
#
# - Reach, dense reward, after {glue:text}`ch03_reach_steps` env steps:
#   {glue:text}`ch03_reachdense`. {glue:text}`ch03_reachdense_eff`.
# - Reach, sparse reward, after {glue:text}`ch03_reach_steps` env steps:
#   {glue:text}`ch03_reach`. {glue:text}`ch03_reach_eff`.
# - Push, sparse reward, after {glue:text}`ch03_push_steps` env steps:
#   {glue:text}`ch03_push`, {glue:text}`ch03_push_verdict` (the rule of
#   Chapter 2, §3.1).
#
# For Push, Chapter 1 measured what a policy that learned nothing scores:
# {glue:text}`ch03_push_floor`. Whatever a policy that does not move the block
# scores comes from episodes that start with the block already within
# $\varepsilon$ of its goal.
#
# Each Reach run trained at {glue:text}`ch03_reach_throughput` environment
# steps per second on average, and each Push run at
# {glue:text}`ch03_push_throughput`, with evaluation excluded. These rates are
# per run, and runs trained at the same time shared the cores of the machine
# that trained them (each run's `metrics.json` names it). Chapter 2's PPO ran
# Reach at {glue:text}`ch03_ppo_throughput` steps per second. The likely
# difference is SAC's updates, {glue:text}`ch03_updates_per_step`, though
# nothing here times the updates apart from the simulation (Chapter 4, §3.2
# does). Sample efficiency and wall-clock
# efficiency are different questions, and a method can win one while losing the
# other.
#
# The contrast between the two Reach rewards is the point of §1.7. Under the
# sparse reward, SAC's buffer holds the transitions in which exploration ended
# within $\varepsilon$ of the goal, and every later minibatch may draw them
# again. PPO's batches held such transitions too, but each batch served only its
# {glue:text}`ch03_ppo_epochs` epochs. On Push, success requires touching and
# then moving the block, and a random arm seldom does either (Chapter 1).
# Replay cannot repeat what was never collected. Chapter 4 manufactures those
# successes by relabelling goals.
#
# ### 3.2 The temperature

# %%
target_entropy = grid[(ch03.EXPERIMENTS[0], seed)].metrics["target_entropy"]
fig = temperature_traces({task_name(env_id): sac_curves[env_id] for env_id in ch03.EXPERIMENTS},
                         target_entropy)
publish(fig, out / "temperature.png", "ch03_temperature_fig")
temperature = {f"{env_id}-seed{s}": ch03.temperature_check(grid[(env_id, s)].curve, target_entropy)
               for env_id, s in grid}

# %% tags=["hide-input"]
pd.DataFrame([
    {"task": task_name(env_id), "seed": s,
     "α first": t["alpha_first"], "α last": t["alpha_last"],
     "H first": t["entropy_first"], "H last": t["entropy_last"],
     "α steps as predicted": f"{t['intervals_following_gradient']} of {t['intervals']}"}
    for (env_id, s), t in zip(grid, temperature.values())
]).set_index(["task", "seed"]).round(3)

# %% [markdown]
# ```{glue:figure} ch03_temperature_fig
# :name: fig-ch03-temperature
#
# The temperature and the entropy of every run, one colour per task and one
# line per seed ({glue:text}`ch03_seeds` per task), at each evaluation. Left:
# the learned temperature $\alpha$ (log scale). Right: the policy's entropy, a
# Monte Carlo estimate on {glue:text}`ch03_entropy_samples` stored observations,
# with the target $\bar{\mathcal{H}} = -\dim\mathcal{A}$ dashed. No band: each
# line is one run.
# ```
#
# {numref}`fig-ch03-temperature` shows both traces.
#
# ### 3.3 The trained Reach policy, sparse reward

# %%
env_id = "FetchReach-v4"
best_seed = max(seeds, key=lambda s: grid[(env_id, s)].metrics["best_success_rate"])
policy = grid[(env_id, best_seed)].policy()
video_seeds = [30_000 + i for i in range(budget.video_episodes)]
frames, reached = video.record_episodes(env_id, policy, video_seeds, size=320)
mp4 = video.write_mp4(frames, out / "sac_fetchreach.mp4", fps=video.control_fps(env_id))
glue("ch03_video_reached", f"{sum(reached)} of {len(reached)}", display=False)
video.video_html(mp4, caption=f"SAC without hindsight on {env_id} (sparse reward), "
                              f"seed {best_seed}, episodes {video_seeds}.")

# %% [markdown]
# The recorded policy reached the goal in {glue:text}`ch03_video_reached`
# recorded episodes, which were reset with seeds used neither in training nor
# in evaluation.
#
# ## 4. Verification and Sanity Checks
#
# First, the runs and the comparison: every run used its whole budget, SAC and
# PPO were evaluated on the same held-out episodes, and the comparison is made
# at an evaluation both methods performed.

# %%
ppo_rows = {(r["env_id"], r["seed"]): r for r in ppo["runs"]}
for (env_id, s), result in grid.items():
    m, final = result.metrics, result.metrics["final"]
    assert m["env_steps"] == sac_configs[env_id].total_steps, (env_id, s, m["env_steps"])
    assert final["episodes"] == budget.eval_episodes
    assert final["ci95_low"] <= final["success_rate"] <= final["ci95_high"]
    assert m["config"]["her"] is None, "this chapter trains without hindsight"
    assert m["eval_seeds"] == ppo_rows[(env_id, s)]["eval_seeds"], "same evaluation episodes as PPO"
    steps = [row["env_steps"] for row in result.curve]
    assert steps == sorted(steps) and steps[-1] == m["env_steps"], steps
for env_id, c in comparison.items():
    if c["theirs_at_budget"] is not None:
        assert c["theirs_at_budget"]["env_steps"] >= c["budget_env_steps"]
"runs and comparison hold"

# %% [markdown]
# Second, the temperature. Section 1.6 predicts the direction of every
# temperature step from the sign of $\mathcal{H}(\pi) - \bar{\mathcal{H}}$.
# For each run we count the intervals between consecutive evaluations in which
# $\alpha$ moved in the direction predicted by the entropy measured at the start
# of the interval. The entropy is measured only at evaluations, on a sample of
# stored observations, while the gradient acts at every step on minibatches, and
# the optimiser (Adam) steps along a running average of past gradients, which
# lags a change of sign. A disagreement is therefore expected only near a
# crossing, where the entropy passes its target within an interval or the gap is
# smaller than the estimate's noise. We require
# agreement in at least {glue:text}`ch03_min_agreement` of the intervals, and that $\alpha$ fell
# before the first evaluation, where the high-entropy initial policy is far
# above the target.

# %%
for key, t in temperature.items():
    assert t["entropy_first"] > target_entropy, (key, t["entropy_first"])
    assert t["alpha_first"] < 1.0, (key, "alpha starts at 1 and must fall while entropy is above target")
    assert t["intervals_following_gradient"] >= ch03.MIN_AGREEMENT * t["intervals"], (key, t)
"temperature checks hold"

# %% tags=["hide-input"]
agreeing = sum(t["intervals_following_gradient"] for t in temperature.values())
intervals = sum(t["intervals"] for t in temperature.values())
closer = sum(t["gap_last"] < t["gap_first"] for t in temperature.values())
glue("ch03_temp_agree", f"{agreeing} of {intervals}", display=False)
glue("ch03_temp_runs", f"{len(temperature)}", display=False)
glue("ch03_temp_closer", f"{closer}", display=False)
glue("ch03_min_agreement", f"{ch03.MIN_AGREEMENT:.0%}", display=False)
initial_distance = ch01.floors(session.upstream, "FetchReachDense-v4")["random"]["mean_initial_distance"]
glue("ch03_reach_d0", f"{initial_distance:.2f}", display=False)
alphas_at_fall = [t["alpha_when_entropy_fell"] for t in temperature.values()
                  if t["alpha_when_entropy_fell"] is not None]
glue("ch03_temp_fall", (
    f"In {len(alphas_at_fall)} of {len(temperature)} runs the entropy fell by more than "
    f"{ch03.ENTROPY_DROP} nats below its first value, and by the evaluation where it first had, "
    f"α had already dropped to between {min(alphas_at_fall):.3f} and {max(alphas_at_fall):.3f}"
) if alphas_at_fall else (
    f"In no run did the entropy fall by more than {ch03.ENTROPY_DROP} nats below its first value "
    "within the budget"), display=False)

# %% [markdown]
# Over the {glue:text}`ch03_temp_runs` runs, $\alpha$ moved in the direction
# the derivation predicts in {glue:text}`ch03_temp_agree` intervals between
# evaluations. The entropy itself ended closer to its target than at the first
# evaluation in {glue:text}`ch03_temp_closer` of the
# {glue:text}`ch03_temp_runs` runs. That is not guaranteed for a short run.
# The level of the reward does not decide it: adding a constant to every reward
# shifts every $Q(s, \cdot)$ by the same amount and leaves the actor's loss
# $\mathbb{E}[\alpha \log \pi - Q]$ with the same minimiser. What decides it is
# how much $Q$ varies from one action to another, against $\alpha$. Under the
# sparse reward with no success in the buffer, $Q$ is nearly flat in $a$ and the
# actor maximises entropy at any $\alpha > 0$; under the dense reward one action
# changes the next reward by at most the displacement it commands (Fetch scales
# an action to at most 5 cm per axis), so the action-dependent part of $Q$ is small
# while $\alpha$ is still near 1, and the policy stays random until the
# temperature has fallen. {glue:text}`ch03_temp_fall`.
#
# ```{warning}
# The pooled intervals treat the evaluation episodes of different seeds as
# exchangeable. With {glue:text}`ch03_seeds` seed(s) per task they understate the
# uncertainty of a *method*, which includes the variation between training runs. Chapter 6
# replaces them with stratified bootstrap intervals over many runs
# {cite:p}`agarwal2021rliable`.
# ```
#
# ## 5. Deliverables

# %%
write_deliverable(out, "sac_results.json", {
    "experiments": list(ch03.EXPERIMENTS),
    "budget": {
        "reach_env_steps": budget.reach_env_steps, "push_env_steps": budget.push_env_steps,
        "learning_starts": budget.learning_starts, "seeds": budget.seeds,
        "eval_every": budget.eval_every, "eval_episodes": budget.eval_episodes,
    },
    "hyperparameters": {env_id: c.hyperparams for env_id, c in sac_configs.items()},
    "runs": rows,
    "pooled": pooled,
    "comparison_with_ppo": comparison,
    "temperature": {
        "target_entropy": target_entropy,
        "runs": temperature,
        "intervals": intervals,
        "intervals_following_gradient": agreeing,
        "fraction_following_gradient": agreeing / intervals,
    },
    "curves": {f"{k}-seed{s}": grid[k, s].curve for k, s in grid},
}, run)
glue("ch03_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch03_profile", profile, display=False)
verified_table(results, profile, "ch03")

# %% [markdown]
# Under the {glue:text}`ch03_profile` profile the whole chapter took
# {glue:text}`ch03_wall_s` s from its first cell to its last. Each run's
# checkpoint, learning curve with the temperature and entropy at every
# evaluation (`curve.csv`), TensorBoard log and `metrics.json` are kept under
# `runs/` in the chapter's results folder.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - The soft Bellman operator is a $\gamma$-contraction because the entropy terms cancel
#   in a difference (§1.2), and soft policy improvement never lowers the soft value
#   (§1.3); SAC's losses approximate the two steps by stochastic gradients on replayed
#   data (§1.4–1.5).
# - The target draws a fresh $a' \sim \pi_\theta(\cdot \mid s')$, so every stored transition
#   estimates the current policy's backup: SAC is off-policy, and the smaller of the twin
#   target critics counteracts the upward bias of maximising a noisy estimate (§1.4).
# - The reparameterised actor follows the critic's slope $\nabla_a Q$, and the $\tanh$
#   squashing enters its log-density through the Jacobian of the change of variables (§1.5).
# - The temperature is the multiplier of an averaged entropy constraint: it falls while
#   $\mathcal{H}(\pi)$ is above $\bar{\mathcal{H}}$ and rises while it is below, and it moved as
#   predicted in {glue:text}`ch03_temp_agree` intervals between evaluations (§4).
# - Replay removes the half of Chapter 2's obstacle that lies in discarded batches, not
#   the half that lies in exploration: it cannot repeat a success that was never
#   collected (§1.7, §3.1).
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - Push with the sparse reward and no hindsight: final pooled success rate
#   {glue:text}`ch03_push`, {glue:text}`ch03_push_verdict`, after
#   {glue:text}`ch03_push_steps` environment steps (§3.1), the outcome §1.7 predicts when
#   exploration seldom touches the block and replay has few successes, if any, to repeat.
# - The temperature follows its gradient, but that does not guarantee that the entropy
#   reaches its target within a short run: the entropy ended closer to $\bar{\mathcal{H}}$ than at the
#   first evaluation in {glue:text}`ch03_temp_closer` of the {glue:text}`ch03_temp_runs`
#   runs (§3.2, §4). Under the sparse reward with no success in the buffer, $Q$ is nearly
#   flat in $a$ and the actor maximises entropy at any $\alpha > 0$ (§4).
# - The cost of sample efficiency, in wall-clock time: a Reach run trained at
#   {glue:text}`ch03_reach_throughput` environment steps per second, against
#   {glue:text}`ch03_ppo_throughput` for Chapter 2's PPO, and the difference is the number
#   of gradient steps per environment step (§3.1).
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch03.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch03` (or
# `make check CHAPTER=ch03`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 3.1 (derivation): the soft value.** For one state with a finite set
# of actions and values $Q(a)$, find the policy that maximises
# $\sum_a \pi(a) Q(a) + \alpha \mathcal{H}(\pi)$ and the maximum itself, the soft
# value $V$ of §1.2. Check your answer's limits ($\alpha \to 0$; all $Q$ equal), and
# write `soft_value(q_values, alpha)` so that it does not overflow when
# $Q/\alpha$ is large.
#
# :::{dropdown} Solution
# With a multiplier $\mu$ for $\sum_a \pi(a) = 1$, stationarity gives
# $Q(a) - \alpha(\log\pi(a) + 1) - \mu = 0$, so $\pi(a) \propto \exp(Q(a)/\alpha)$:
# the Boltzmann policy. Substituting, $V = \alpha \log \sum_a \exp(Q(a)/\alpha)$.
# As $\alpha \to 0$ it tends to $\max_a Q(a)$ (the hard Bellman backup); with all
# $Q = c$ it is $c + \alpha\log|\mathcal{A}|$, the uniform policy's entropy paid at
# rate $\alpha$. Computed as $m + \alpha\log\sum_a \exp((Q(a) - m)/\alpha)$ with
# $m = \max_a Q(a)$ (log-sum-exp), it never overflows.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch03.py
# :language: python
# :pyobject: soft_value
# ```
# :::
#
# **Problem 3.2 (implementation): the log-density of a squashed Gaussian.**
# SAC's actor samples $u \sim \mathcal{N}(\mu, \sigma^2)$ per dimension and acts
# $a = \tanh(u)$. Derive $\log \pi(a)$ by the change of variables of §1.5 and write
# `tanh_gaussian_log_prob(mean, log_std, u)` in torch, summed over the action
# dimensions, differentiable in `mean` and `log_std` (the actor's loss is
# differentiated through it), and exact and finite at $|u| = 20$, where $\tanh(u)$
# rounds to 1.
#
# :::{dropdown} Solution
# The map is one-to-one per dimension with $da/du = 1 - \tanh^2(u)$, so
# $\log\pi(a) = \sum_i \big[\log\mathcal{N}(u_i; \mu_i, \sigma_i^2) -
# \log(1 - \tanh^2 u_i)\big]$. In floating point $1 - \tanh^2(u)$ is 0 for large
# $|u|$, and its logarithm $-\infty$. Two finite forms are in use. The identity
# $1 - \tanh^2 u = 4/(e^u + e^{-u})^2$ gives
# $\log(1 - \tanh^2 u) = 2(\log 2 - u - \operatorname{softplus}(-2u))$, exact and
# finite everywhere: Spinning Up computes this form, and so does the reference
# solution below. Stable-Baselines3's `SquashedDiagGaussianDistribution`, and the
# book's actor after it (`gcrl.rl.sac_her.algorithm`), compute instead
# $\log(1 - \tanh^2 u + 10^{-6})$ from the squashed action: finite too, but biased
# where $\tanh^2 u$ approaches 1. There it saturates at $\log 10^{-6} \approx -13.8$
# while the exact value keeps falling as $2\log 2 - 2|u|$ ($-38.6$ at $|u| = 20$),
# and already at $|u| = 5$ the $10^{-6}$ shifts it by $5 \cdot 10^{-3}$. The problem
# asks for the density itself, so its check wants the exact form; in training the
# bias is harmless, because the entropy bonus keeps $|u|$ small.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch03.py
# :language: python
# :pyobject: tanh_gaussian_log_prob
# ```
# :::
#
# **Problem 3.3 (implementation): the temperature loss.** Write
# `temperature_loss(log_alpha, log_prob, target_entropy)` whose gradient step on
# $\log\alpha$ raises the temperature when the policy's entropy
# $-\mathbb{E}[\log\pi(a \mid s)]$ is below $\bar{\mathcal{H}}$ and lowers it above,
# as §1.6 derives. Why must the log-probabilities be held fixed in it?
#
# :::{dropdown} Solution
# $J(\alpha) = \mathbb{E}_{a \sim \pi}[-\alpha(\log\pi(a \mid s) + \bar{\mathcal{H}})]$;
# in $\log\alpha$ (positive by construction) its gradient is
# $-\alpha\,\mathbb{E}[\log\pi + \bar{\mathcal{H}}]$, negative when the entropy is
# below the target, so a descent step raises $\alpha$. Stable-Baselines3 (and the
# book) drop the factor $\alpha$, which changes the step's size, not its sign:
# $-\mathbb{E}[\log\alpha\,(\log\pi + \bar{\mathcal{H}})]$. The log-probabilities are
# detached because this loss tunes the dual variable only: the actor has its own
# loss. Left attached, the loss's gradient in the actor's parameters $\theta$ is
# $-\log\alpha\,\nabla_\theta\mathbb{E}[\log\pi]$, so a descent step moves $\theta$
# along $\log\alpha\,\nabla_\theta\mathbb{E}[\log\pi]$, a direction set by the
# *sign of* $\log\alpha$ rather than by any objective of the policy: for $\alpha > 1$
# it raises $\mathbb{E}[\log\pi]$ and lowers the entropy; for $\alpha < 1$, the usual
# regime, it lowers $\mathbb{E}[\log\pi]$ and *raises* the entropy. (In the form with
# the factor $\alpha > 0$ the step always lowers the entropy.) Either way it adds to
# the actor's update a term that §1.6's derivation does not contain.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch03.py
# :language: python
# :pyobject: temperature_loss
# ```
# :::
#
# **Problem 3.4 (diagnosis): a {term}`target network` that never moves.** The stub's
# `polyak_update` is called after every gradient step; with it the critic's
# targets stay those of its initial network and training stalls. Run the check,
# read the symptom, repair.
#
# :::{dropdown} Solution
# The stub writes `target = (1 - tau) * target + tau * param`: that binds the
# local name `target` to a new tensor and leaves the target network's parameter
# untouched. The update must be in place (`mul_`, `add_`, under `no_grad`). After
# $n$ correct updates the gap to the online parameters has shrunk by
# $(1 - \tau)^n$, which is what the check measures.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch03.py
# :language: python
# :pyobject: polyak_update
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch03.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch03")
