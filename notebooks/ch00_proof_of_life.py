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
# # Chapter 0 — A containerized proof of life

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

from gcrl.chapters import ch00_proof_of_life as ch00
from gcrl.core.paths import Layout
from gcrl.core.provenance import package_versions
from gcrl.course.deliverables import verified_table, write_deliverable
from gcrl.course.runner import timing_summary
from gcrl.course.session import open_chapter
from gcrl.rl import video
from gcrl.rl.evaluate import deterministic_policy

session = open_chapter("ch00", profile, seed, results_root)
profile = session.profile
budget, run, results, out = session.budget, session.run, session.results, session.out
display(Markdown(run.banner()))

# %% [markdown]
# ## Abstract
#
# No experiment in this course means anything unless the laboratory that
# produced it can be rebuilt and shown to work. This chapter gives that
# demonstration. It checks four preconditions, each of which can fail on its own:
# the numerical device is identified, or the CPU fallback is declared; the
# physics simulator renders off-screen and gives a real image; a
# reinforcement-learning training loop runs to completion on a Fetch task; and
# the trained policy survives a round trip to disk unchanged. Nothing is learned
# here. The {term}`deliverables <deliverable>` are an environment report, a rendered frame, a
# checkpoint and the proof that it reloads exactly.
#
# ## 1. Theoretical Foundations
#
# ### 1.1 Why a laboratory needs proving
#
# An empirical claim in reinforcement learning, such as "SAC with hindsight relabelling
# solves FetchPush in $10^6$ steps", is a statement about a *computation*: a
# simulator, a learning algorithm, a set of library versions, a device and a seed.
# Change any of them and the claim may stop holding. Before we make such claims we
# therefore fix the computation, by pinning versions and building a container, and
# then check that what we fixed behaves. A check that cannot fail proves nothing, so
# each precondition below is a predicate that is false in a broken laboratory.
#
# ### 1.2 The four predicates
#
# **(P1) Device.** Let $\mathcal{D}$ be the device on which tensors are allocated.
# Either $\mathcal{D}$ is a CUDA device whose name and memory we record, or
# $\mathcal{D}$ is the CPU and the chapter says so. A silent fallback is a
# defect: it turns a one-hour experiment into a two-day one without a trace.
#
# **(P2) Rendering.** Headless OpenGL fails in a characteristic way. The context is
# created and the draw calls return, but the buffer stays uniform. Let
# $F \in \{0,\dots,255\}^{H\times W\times 3}$ be a rendered frame. We require the
# requested shape, a pixel standard deviation $\operatorname{sd}(F) \ge \mathrm{sd}_{\min}$, and at
# least $c_{\min}$ distinct colours. A black, white or grey frame fails both
# inequalities; any frame of a single colour fails the second, even a saturated
# one whose three channels differ enough to pass the first.
#
# **(P3) Training.** A training loop that runs to completion performs the
# interaction–update cycle of an off-policy learner over a budget of $L$
# environment steps (not to be confused with the episode length $T$): for
# $t = 0,\dots,L-1$, act $a_t \sim \pi_\theta(\cdot \mid o_t, g)$ (uniformly at
# random during a warm-up of the first steps), store $(o_t, a_t, r_{t+1}, o_{t+1}, g)$
# in a replay buffer $\mathcal{B}$, and, once $t$ exceeds the warm-up, take a
# gradient step on a minibatch drawn from $\mathcal{B}$. We use Soft Actor-Critic
# {cite:p}`haarnoja2018sac`, in the Stable-Baselines3 implementation
# {cite:p}`raffin2021sb3`, on `FetchReach-v4` {cite:p}`plappert2018multigoal`, simulated by
# MuJoCo {cite:p}`todorov2012mujoco`. SAC is derived properly in Chapter 3. The run counts as proof only if it reaches
# exactly $L$ environment steps and performs at least one update.
#
# **(P4) Serialisation.** For evaluation, a stochastic policy is used through its
# deterministic map $\mu_\theta : \mathcal{O} \times \mathcal{G} \times \mathcal{G} \to \mathcal{A}$,
# which reads the observation, the achieved goal and the desired goal (for SAC,
# the $\tanh$ of the Gaussian head's mean). Let
# $\theta' = \mathrm{load}(\mathrm{save}(\theta))$. The round trip is correct when
#
# $$
# \forall x \in X_{\text{test}}:\quad \mu_{\theta'}(x) = \mu_\theta(x)
# $$
#
# holds *exactly*, bit for bit, on a fixed set $X_{\text{test}}$ of test inputs
# (observation dictionaries).
# Approximate equality would be the wrong criterion. The same floating-point
# parameters put through the same operations on the same device give the same bits,
# so any difference at all signals a real fault: a parameter that was not saved,
# normalisation statistics that were left behind, or a policy that loaded onto the
# wrong device or in the wrong precision.

# %% [markdown]
# :::{admonition} Key equations
# :class: note
#
# - a rendered frame, $F \in \{0,\dots,255\}^{H\times W\times 3}$, must satisfy
#   $\operatorname{sd}(F) \ge \mathrm{sd}_{\min}$ and hold at least $c_{\min}$
#   distinct colours (§1.2, P2)
# - the interaction step, for $t = 0,\dots,L-1$: act
#   $a_t \sim \pi_\theta(\cdot \mid o_t, g)$ and store
#   $(o_t, a_t, r_{t+1}, o_{t+1}, g)$ in $\mathcal{B}$ (§1.2, P3)
# - the deterministic evaluation map:
#   $\mu_\theta : \mathcal{O} \times \mathcal{G} \times \mathcal{G} \to \mathcal{A}$ (§1.2, P4)
# - the round trip, $\theta' = \mathrm{load}(\mathrm{save}(\theta))$, is correct when
#   $\forall x \in X_{\text{test}}:\quad \mu_{\theta'}(x) = \mu_\theta(x)$
#   holds bit for bit (§1.2, P4)
# :::

# %% [markdown]
# ## 2. The Experimental Environment
#
# The chapter runs in one of two places: in the course container (`docker/dev.sh`,
# NVIDIA's PyTorch image, EGL rendering on the GPU) or in the virtual environment
# created by `make install` on a CPU machine. Both install the same pinned
# dependencies. The pins that matter most are `mujoco==3.11.0` (Gymnasium-Robotics
# 1.4.2 cannot build the Fetch environments on later MuJoCo) and
# `jupyter-book==1.0.4.post1`. The {term}`profile`, chosen by `GCRL_PROFILE`, sets every
# budget in this chapter; its values come from the single table in
# `gcrl.course.profiles`.
#
# ### 2.1 The device (P1)

# %%
accelerator = ch00.probe_accelerator()
glue("ch00_device", accelerator["device"], display=False)
glue("ch00_standard_time", ch00.standard_time_text(timing_summary(Layout.default(results_root or None), "standard")),
     display=False)
glue("ch00_notice", accelerator["notice"], display=False)
pd.Series(accelerator, name="value").to_frame()

# %% [markdown]
# The chapter runs on **{glue:text}`ch00_device`**. {glue:text}`ch00_notice`
#
# ```{note}
# On a CPU the later chapters shrink their budgets through the profile: the
# `standard` profile is sized for two CPU cores. {glue:text}`ch00_standard_time`
# The `full` profile, at paper scale, assumes a GPU.
# ```
#
# ### 2.2 The rendering backend
#
# MuJoCo reads the environment variable `MUJOCO_GL` once, when it is first
# imported. `configure_rendering` therefore runs in the chapter's first cell, through
# `gcrl.course.session.open_chapter`, before any simulator is created.
# It honours an explicit `MUJOCO_GL`; otherwise it tries EGL, which uses the
# GPU's driver or Mesa on a CPU, and then OSMesa, a pure software rasteriser. It
# tries each in a child process so that a missing library cannot crash the kernel,
# and it fails with a message that names the Debian packages to install.

# %%
backend = session.rendering
glue("ch00_backend", backend, display=False)
backend

# %% [markdown]
# ## 3. Implementation Details
#
# Each step below calls one function of `gcrl.chapters.ch00_proof_of_life`. The
# functions are short, typed and tested; the notebook only calls them and shows
# the results.
#
# ### 3.1 A rendered frame (P2)

# %%
frame = ch00.render_frame("FetchReach-v4", size=budget.frame_size, seed=seed)
frame_png = ch00.save_png(frame, out / "frame.png")
frame_stats = ch00.frame_statistics(frame)
pd.Series(frame_stats, name="value").to_frame()

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.imshow(frame)
ax.set_axis_off()
glue("ch00_frame_fig", fig, display=False)
plt.close(fig)
glue("ch00_frame_std", f"{frame_stats['std']:.1f}", display=False)
glue("ch00_frame_colours", f"{frame_stats['distinct_colours']:,}", display=False)
glue("ch00_frame_size", f"{frame_stats['width']} × {frame_stats['height']}", display=False)
glue("ch00_blank_std", f"{ch00.BLANK_STD:g}", display=False)
glue("ch00_min_colours", f"{ch00.MIN_DISTINCT_COLOURS:,}", display=False)

# %% [markdown]
# ```{glue:figure} ch00_frame_fig
# :name: fig-ch00-frame
#
# `FetchReach-v4` after a reset with the chapter's seed, rendered headless
# ({glue:text}`ch00_frame_size` pixels). The red sphere is the desired goal $g$;
# the gripper is the end effector whose position is the achieved goal.
# ```
#
# {numref}`fig-ch00-frame` is the frame that predicate (P2) is tested on.
#
# ### 3.2 A short training run (P3)
#
# The run uses the budget of the current profile and small networks of the kind
# that solve `FetchReach` in later chapters. Its purpose is mechanical. We expect
# no learning from so few steps and we test for none.

# %%
config = ch00.ProofOfLifeConfig(
    env_steps=budget.sac_env_steps,
    learning_starts=budget.sac_learning_starts,
    seed=seed,
)
checkpoint = out / "sac_fetchreach.zip"
model, training = ch00.train_sac(config, checkpoint)
summary = {k: v for k, v in training.items() if k != "config"}
pd.Series(summary, name="value").to_frame()

# %% tags=["hide-input"]
glue("ch00_env_steps", f"{training['env_steps']:,}", display=False)
glue("ch00_grad_steps", f"{training['gradient_steps']:,}", display=False)
glue("ch00_steps_per_s", f"{training['env_steps_per_s']:.0f}", display=False)
glue("ch00_train_s", f"{training['wall_time_s']:.1f}", display=False)

# %% [markdown]
# SAC took {glue:text}`ch00_env_steps` environment steps and
# {glue:text}`ch00_grad_steps` gradient updates in {glue:text}`ch00_train_s` s,
# i.e. {glue:text}`ch00_steps_per_s` environment steps per second including the
# updates. The checkpoint was written atomically: first to a temporary file beside
# the target, then renamed. An interrupted save therefore leaves either the
# previous checkpoint or none, never a truncated one.
#
# ### 3.3 Reloading the checkpoint (P4)
#
# The test inputs $X_{\text{test}}$ come from resets of the environment with
# seeds $\omega, \omega+1, \dots$ (here $\omega$ = {glue:text}`ch00_reload_seed`), distinct
# from the training seed's episodes.
# The checkpoint is loaded into a fresh SAC object on the same device.

# %%
observations = ch00.fixed_observations(
    "FetchReach-v4", count=budget.reload_observations, seed=10_000 + seed
)
glue("ch00_reload_seed", f"{10_000 + seed:,}", display=False)
reload = ch00.reload_check(model, checkpoint, observations)
pd.Series(reload, name="value").to_frame()

# %% [markdown]
# ### 3.4 A recorded rollout
#
# Later chapters show every trained policy as a video. The same pipeline runs
# here on the barely trained policy. The deterministic map $\mu_\theta$ is rolled
# out for whole episodes from held-out seeds, and one frame is rendered per
# control step. The frames are encoded as H.264 and embedded in the page. One
# frame per control step, at the environment's control frequency, plays the
# episode in real time.

# %%
fps = video.control_fps("FetchReach-v4")
video_seeds = [20_000 + seed + i for i in range(budget.video_episodes)]
policy = deterministic_policy(model)
frames, reached = video.record_episodes(
    "FetchReach-v4", policy, seeds=video_seeds, size=budget.video_size
)
video.write_mp4(frames, out / "rollout.mp4", fps=fps)
glue("ch00_video_episodes", f"{len(video_seeds)}", display=False)
glue("ch00_video_reached", f"{sum(reached)}", display=False)
glue("ch00_fps", f"{fps}", display=False)
caption = f"SAC after {training['env_steps']:,} env steps, seeds {video_seeds}."
video.video_html(out / "rollout.mp4", caption=caption)

# %% [markdown]
# The video holds {glue:text}`ch00_video_episodes` episode(s) at
# {glue:text}`ch00_fps` frames per second, the environment's control frequency.
# The gripper reached the goal at the end of {glue:text}`ch00_video_reached` of
# them. After so little training this count means nothing; Chapters 3 and 4 give
# it meaning.
#
# ## 4. Verification and Sanity Checks
#
# The predicates of §1.2 are now asserted. If any of them fails, the chapter fails
# with it, and so do the headless run and CI.

# %%
size = budget.frame_size
assert frame_stats["height"] == frame_stats["width"] == size, frame_stats
assert (frame_stats["channels"], frame_stats["dtype"]) == (3, "uint8")
assert not frame_stats["blank"], f"the frame is blank: {frame_stats}"
assert training["env_steps"] == config.env_steps, training
assert training["gradient_steps"] > 0, training
assert reload["identical"], reload
assert reload["max_abs_action_difference"] == 0.0, reload
# one reset frame and 50 step frames per episode
assert len(frames) == budget.video_episodes * 51, len(frames)
glue("ch00_reload_n", f"{reload['observations_checked']:,}", display=False)
diff = reload["max_abs_action_difference"]
glue("ch00_reload_diff", f"{diff:.1g}", display=False)
"all four predicates hold"

# %% [markdown]
# - (P1) The device is identified: {glue:text}`ch00_device`.
# - (P2) The frame is {glue:text}`ch00_frame_size` pixels, with a pixel standard
#   deviation of {glue:text}`ch00_frame_std` and {glue:text}`ch00_frame_colours`
#   distinct colours, against blank-frame thresholds of
#   $\mathrm{sd}_{\min}$ = {glue:text}`ch00_blank_std` and $c_{\min}$ = {glue:text}`ch00_min_colours`.
#   The frame was rendered with the {glue:text}`ch00_backend` backend.
# - (P3) The training loop reached its step budget and performed
#   {glue:text}`ch00_grad_steps` updates.
# - (P4) On {glue:text}`ch00_reload_n` fixed observations, the reloaded policy's
#   deterministic actions differ from the original's by at most
#   {glue:text}`ch00_reload_diff`, that is, not at all.
#
# ```{warning}
# Bitwise equality holds on one device with one build of PyTorch. Moving a
# checkpoint from a GPU to a CPU, or across library versions, can change the last
# bits of an action. This is why every deliverable records its device and package
# versions.
# ```
#
# ## 5. Deliverables
#
# Each JSON file carries a `provenance` object: commit, dirty flag, package
# versions, profile, seeds, device, start time and wall time. `make verify`
# checks each deliverable against its declaration in `scripts/gcrl/course/deliverables.yaml`.
# The same check runs here, so the table below is the verification itself.

# %%
report = {
    "accelerator": accelerator,
    "rendering": {
        "backend": backend,
        "env_id": "FetchReach-v4",
        "frame": frame_stats,
    },
    "packages": package_versions(),
}
write_deliverable(out, "environment_report.json", report, run)
write_deliverable(out, "training.json", training, run)
write_deliverable(out, "reload_check.json", reload, run)
glue("ch00_wall_s", f"{run.snapshot()['wall_time_s']:.0f}", display=False)
glue("ch00_profile", profile, display=False)
verified_table(results, profile, "ch00")

# %% [markdown]
# Under the {glue:text}`ch00_profile` profile the whole chapter took
# {glue:text}`ch00_wall_s` s from its first cell to its last.

# %% [markdown]
# :::{admonition} Takeaways
# :class: tip
#
# - A check that cannot fail proves nothing: each of (P1)–(P4) is a predicate
#   that is false in a broken laboratory, and §4 asserts all four.
# - A headless renderer can return a uniform buffer without raising an error, so
#   the frame is judged by its content, through two inequalities.
# - The training run is a mechanical proof, not evidence of learning: exactly $L$
#   environment steps and at least one update.
# - A checkpoint is accepted only if its deterministic actions are reproduced
#   exactly; the guarantee holds on one device with one build of PyTorch, which is
#   why every deliverable records its {term}`provenance`.
# :::
#
# :::{admonition} Failure modes measured
# :class: warning
#
# - **A silent CPU fallback** (P1, §2.1): the device is probed and recorded, here
#   {glue:text}`ch00_device`.
# - **A missing rendering backend or a blank frame** (P2, §2.2 and §3.1): the
#   backend is probed in a child process, here {glue:text}`ch00_backend`; the frame
#   has a pixel standard deviation of {glue:text}`ch00_frame_std` and
#   {glue:text}`ch00_frame_colours` distinct colours, against
#   $\mathrm{sd}_{\min}$ = {glue:text}`ch00_blank_std` and
#   $c_{\min}$ = {glue:text}`ch00_min_colours`.
# - **A training loop that stops short or never updates** (P3, §3.2): it ran
#   {glue:text}`ch00_env_steps` environment steps and
#   {glue:text}`ch00_grad_steps` gradient updates.
# - **A checkpoint that does not reload to identical actions** (P4, §3.3): on
#   {glue:text}`ch00_reload_n` fixed observations the largest action difference
#   is {glue:text}`ch00_reload_diff`.
# :::

# %% [markdown]
# ## 6. Problems
#
# The chapter's problem set. Write your solutions in `exercises/ch00.py`, a
# file that is yours: the first check copies the course's stub there and the
# course never writes to it again. `gcrl check ch00` (or
# `make check CHAPTER=ch00`) runs each problem's checks on your file against
# the course's own pipeline and prints, per problem, PASS or FAIL with a hint
# that names the property that failed; the last cell below runs the same
# check. A derivation is checked through the closed form it leads to, which
# you write as the function; a diagnosis problem's stub is code with a planted
# bug, which you find from the symptom the check prints, and repair. Each
# dropdown holds a worked solution: open it after you have tried.
#
# **Problem 0.1 (implementation): Fetch's sparse reward.** Every Fetch task
# rewards a step by where the achieved goal $g_a$ (the gripper on Reach, the
# object elsewhere) ended relative to the desired goal $g_d$:
# $r = -\mathbb{1}[\lVert g_a - g_d \rVert_2 > \varepsilon]$ with
# $\varepsilon = 0.05$ m. Write `sparse_reward(achieved_goal, desired_goal,
# threshold=0.05)` for one pair of goals (shape `(3,)`) and for a batch (shape
# `(N, 3)`, giving `N` rewards). The check compares it with the environment's own
# `compute_reward` on real FetchReach transitions whose goals straddle the
# threshold, and, for thresholds other than the default, on pairs off the
# coordinate axes a few percent either side of it, where the L1, L-infinity and
# squared distances give other rewards.
#
# :::{dropdown} Solution
# The distance is taken over the last axis only, so that one call serves a
# single transition and a minibatch alike (Chapter 1, §1.2, explains why the
# relabelling of Chapter 4 needs exactly this). The comparison is strict: a
# distance of exactly $\varepsilon$ is still rewarded 0.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch00.py
# :language: python
# :pyobject: sparse_reward
# ```
# :::
#
# **Problem 0.2 (derivation): how many episodes a half-width needs.** A success
# rate estimated from $n$ independent episodes has, by the normal approximation,
# the interval $\hat p \pm z\sqrt{p(1-p)/n}$. Derive the fewest episodes $n$ whose
# half-width is at most $h$, and write it as `episodes_for_half_width(half_width,
# p=0.5, z=1.96)`. For which $p$ is $n$ largest, and how many episodes does a
# half-width of five percentage points then cost?
#
# :::{dropdown} Solution
# $z\sqrt{p(1-p)/n} \le h \iff n \ge z^2 p(1-p)/h^2$, and $n$ is an integer, so
# $n^\star = \lceil z^2 p(1-p)/h^2 \rceil$. The variance $p(1-p)$ is largest at
# $p = 1/2$, where it is $1/4$: $n^\star = \lceil 1.96^2/(4h^2) \rceil$, which is
# 385 episodes for $h = 0.05$ and 97 for $h = 0.1$. Halving the half-width costs
# four times the episodes. The normal approximation is poor near 0 and 1, which is
# why the book reports Wilson intervals (Chapter 1, §1.5; Problem 1.1).
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch00.py
# :language: python
# :pyobject: episodes_for_half_width
# ```
# :::
#
# **Problem 0.3 (diagnosis): a dense reward whose policy runs away.** The dense
# variants (`FetchReachDense-v4` and the others) reward a step by its distance to
# the goal. The stub's `dense_reward` was written for them; a policy trained with
# it moves its gripper away from every goal. Run the check, read the symptom, and
# repair the function.
#
# :::{dropdown} Solution
# The stub returns $+\lVert g_a - g_d\rVert$: reward grows with the distance, so
# a maximiser is paid for leaving its goal. The dense reward is the *negative*
# distance, $r = -\lVert g_a - g_d \rVert_2$, maximal (zero) at the goal. A sign
# is the cheapest bug to plant and among the hardest to see in a learning curve,
# which only shows that the return rises.
#
# ```{literalinclude} /scripts/gcrl/exercises/solutions/ch00.py
# :language: python
# :pyobject: dense_reward
# ```
# :::

# %% [markdown]
# Your file, checked (edit `exercises/ch00.py`, then run this cell again):

# %%
from gcrl.exercises import check

check("ch00")
