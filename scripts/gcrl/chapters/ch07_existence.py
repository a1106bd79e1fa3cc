"""Chapter 7: the existence question, answered by construction.

Every measurement of the chapter is planned here from the profile's budget:
the scripted experts' success and failure causes on the held-out episodes,
behaviour cloning from growing numbers of expert episodes, the grid of widths,
and DAgger against cloning at the same number of expert labels. Each fit is an
independent job for the course's process pool; its policy is saved in the
chapter's folder so that a later cell (and a reader) can reload it. Learning
from demonstrations is two arms of the book's SAC+HER on one task, with the
expert's episodes and without them, trained as one grid like Chapter 4's runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import torch

from gcrl.analysis.experiments import final_outcomes, pooled_difference
from gcrl.analysis.scheduler import run_parallel, train_plan
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.course.deliverables import declared_range
from gcrl.course.profiles import ExistenceBudget
from gcrl.rl import experts, imitation
from gcrl.rl.envs import make_fetch_env, task_name
from gcrl.rl.evaluate import evaluate, evaluation_seeds, paired_newcombe_interval, paired_table, pooled, wilson_interval
from gcrl.rl.learners import make_config
from gcrl.rl.run_folder import RunResult
from gcrl.rl.sac_her import algorithm
from gcrl.rl.sac_her.config import SacHerConfig
from gcrl.rl.sac_her.demonstrations import DemonstrationReplay
from gcrl.rl.sac_her.learner import load_agent

#: Demonstrations are the expert's episodes from reset seeds DEMO_SEED_BASE, DEMO_SEED_BASE + 1, ...; DAgger's
#: episodes start at DAGGER_SEED_BASE; both stay far from the held-out evaluation seeds (gcrl.rl.evaluate).
DEMO_SEED_BASE, DAGGER_SEED_BASE = 0, 200_000
#: "Existence in a bounded class": the smallest width whose clone's Wilson lower end reaches this fraction of
#: the expert's (§1.3's standard for both).
EXPERT_FRACTION = 0.9
#: DAgger's non-inferiority margin, the largest deficit against cloning that the lower end of the paired interval
#: of their difference may show: the chapter's claim, as ``deliverables.yaml`` declares it for the standard profile.
NONINFERIORITY_MARGIN = -declared_range("ch07", "existence_results.json", "/dagger/at_largest/ci95_low", "standard")[0]


def recipe_arch(env_id: str) -> tuple[int, ...]:
    """The hidden layers of the book's SAC+HER on ``env_id``, read from its recipe (``hyperparams/sac_her.yml``).

    This is the class the learner of §3.6 trains, so it is the class the cloning curves fill; the width grid keeps
    its depth and varies the one width all its layers share.
    """
    arch = SacHerConfig.from_recipe(env_id, total_steps=1).net_arch  # the budget does not enter the networks
    if len(set(arch)) != 1:
        raise CourseError(f"{env_id}'s recipe has layers of different widths {arch}; the width grid varies one width")
    return arch


def recipe_width(env_id: str) -> int:
    return recipe_arch(env_id)[0]


def expert_record(env_id: str, episodes: int) -> dict[str, Any]:
    """The expert's success on the held-out episodes, with its Wilson interval and the failures by cause."""
    rollouts = experts.expert_rollouts(env_id, evaluation_seeds(episodes))
    successes = sum(r.success for r in rollouts)
    low, high = wilson_interval(successes, episodes)
    record = {"env_id": env_id, "episodes": episodes, "successes": successes, "success_rate": successes / episodes,
              "ci95_low": low, "ci95_high": high, "stateless": bool(experts.make_expert(env_id).stateless),
              "failures": experts.failure_counts(env_id, rollouts),
              "outcomes": "".join("1" if r.success else "0" for r in rollouts)}
    if env_id == "FetchSlide-v4":  # the goals one strike cannot reach, and how those episodes ended
        reach = float(experts.SlideExpert.DISTANCES[-1])
        far = [r for r in rollouts if start_distance(r) > reach]
        record["beyond_one_strike"] = {"reach_m": reach, "episodes": len(far), "failed": sum(not r.success for r in far)}
    return record


def start_distance(r: experts.Rollout) -> float:
    """The object's distance to the goal in the table plane when the episode starts."""
    return float(np.linalg.norm(r.episode.achieved_goal[0][:2] - r.episode.desired_goal[:2]))


def expert_table(budget: ExistenceBudget) -> dict[str, dict[str, Any]]:
    """Every task's expert record, one job per task."""
    records = run_parallel(expert_record, [(env_id, budget.expert_episodes) for env_id in budget.clone_tasks],
                           "expert episodes")
    return dict(zip(budget.clone_tasks, records))


def clone_config(budget: ExistenceBudget, env_id: str, width: int, seed: int) -> imitation.CloneConfig:
    """A fit of ``width`` units in each of the layers of ``env_id``'s recipe."""
    return imitation.CloneConfig(net_arch=(width,) * len(recipe_arch(env_id)), epochs=budget.epochs, seed=seed)


def clone_job(env_id: str, demos: list[experts.Rollout], config: imitation.CloneConfig, eval_episodes: int,
              save_to: Path | None) -> dict[str, Any]:
    """Clone the expert from its episodes ``demos``; evaluate on held-out episodes; save if asked."""
    demonstrations = len(demos)
    data = imitation.Labelled.from_episodes([r.episode for r in demos])
    policy, losses = imitation.fit(data, config)
    evaluation = evaluate(env_id, policy, evaluation_seeds(eval_episodes))
    if save_to is not None:
        policy.save(save_to)
    return {"env_id": env_id, "method": "BC", "demonstrations": demonstrations, "labels": len(data),
            "width": config.net_arch[0], "seed": config.seed, "losses": losses,
            "demo_success_rate": sum(r.success for r in demos) / demonstrations,
            "checkpoint": None if save_to is None else save_to.name, **evaluation.as_dict()}


def dagger_job(env_id: str, rounds: int, episodes_per_round: int, config: imitation.CloneConfig,
               eval_episodes: int, save_to: Path | None) -> list[dict[str, Any]]:
    """DAgger, evaluated on the held-out episodes after every round (each a row, as clone_job's)."""
    rows = []

    def evaluate_round(policy: imitation.ClonedPolicy, record: imitation.DaggerRound) -> None:
        evaluation = evaluate(env_id, policy, evaluation_seeds(eval_episodes))
        rows.append({"env_id": env_id, "method": "DAgger", "round": record.round, "acting": record.acting,
                     "demonstrations": record.round * episodes_per_round, "labels": record.labels,
                     "width": config.net_arch[0], "seed": config.seed, "final_loss": record.final_loss,
                     "rollout_success": record.rollout_success, **evaluation.as_dict()})

    policy, _ = imitation.dagger(env_id, rounds, episodes_per_round, config, DAGGER_SEED_BASE, on_round=evaluate_round)
    if save_to is not None:
        policy.save(save_to)
        rows[-1]["checkpoint"] = save_to.name
    return rows


def checkpoint_name(env_id: str, method: str, demonstrations: int, width: int) -> str:
    return f"{method.lower()}-{env_id}-n{demonstrations}-w{width}.pt"


def plan(budget: ExistenceBudget, seed: int, out: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The cloning jobs (every task x number of demonstrations in the class of the task's recipe, then the width grid
    at the largest number), each naming its number of demonstrations, and the DAgger job, in the recipe's class too;
    a fit two experiments share is planned once."""
    if not budget.demonstrations or min(budget.demonstrations) < 1:
        raise CourseError(f"demonstrations must list positive numbers of episodes, got {budget.demonstrations!r}")
    if not budget.widths:
        raise CourseError("the width grid is empty: name at least one width")
    largest = max(budget.demonstrations)
    keys = [(e, n, recipe_width(e)) for e in budget.clone_tasks for n in budget.demonstrations]
    keys += [(e, largest, w) for e in budget.width_tasks for w in budget.widths]
    jobs = [(e, n, clone_config(budget, e, w, seed), budget.eval_episodes,
             out / checkpoint_name(e, "BC", n, w) if n == largest else None)
            for e, n, w in dict.fromkeys(keys)]
    per_round = largest // budget.dagger_rounds
    if per_round < 1:
        raise CourseError(f"{budget.dagger_rounds} DAgger rounds cannot share {largest} episodes")
    width = recipe_width(budget.dagger_task)
    config = clone_config(budget, budget.dagger_task, width, seed)
    dagger = [(budget.dagger_task, budget.dagger_rounds, per_round, config, budget.eval_episodes,
               out / checkpoint_name(budget.dagger_task, "DAgger", largest, width))]
    return jobs, dagger


def run_all(budget: ExistenceBudget, seed: int, out: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every fit of the plan on the process pool, the longest first: the cloning rows and the DAgger rows.

    The expert's demonstrations are played once per task, the largest number of them; a fit from fewer takes the
    first ones, which are the episodes of the same reset seeds.
    """
    clones, dagger = plan(budget, seed, out)
    tasks = list(dict.fromkeys(job[0] for job in clones))
    seeds = list(range(DEMO_SEED_BASE, DEMO_SEED_BASE + max(budget.demonstrations)))
    played = dict(zip(tasks, run_parallel(experts.expert_rollouts, [(e, seeds) for e in tasks], "demonstrations")))
    clones = [(e, played[e][:n], *rest) for e, n, *rest in clones]
    # a fit costs in proportion to its labels times its width; DAgger refits a growing aggregate every round
    cost = {clone_job: lambda job: len(job[1]) * job[2].net_arch[0],
            dagger_job: lambda job: job[1] * (job[1] + 1) / 2 * job[2] * job[3].net_arch[0]}
    tagged = [(clone_job, job) for job in clones] + [(dagger_job, job) for job in dagger]
    outcomes = run_parallel(call, tagged, "cloning and DAgger fits", cost=lambda t: cost[t[0]](t[1]))
    rows = [o for (f, _), o in zip(tagged, outcomes) if f is clone_job]
    dagger_rows = [row for (f, _), o in zip(tagged, outcomes) if f is dagger_job for row in o]
    return rows, dagger_rows


def call(function, arguments: tuple[Any, ...]):
    """``function(*arguments)``: one job of :func:`run_all`, picklable for the process pool."""
    return function(*arguments)


def bc_curve(rows: list[dict[str, Any]], env_id: str) -> list[dict[str, Any]]:
    """Cloning in the class of ``env_id``'s recipe, by number of demonstrations."""
    return sorted((r for r in rows if r["env_id"] == env_id and r["width"] == recipe_width(env_id)),
                  key=lambda r: r["demonstrations"])


def width_curve(rows: list[dict[str, Any]], env_id: str, demonstrations: int) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["env_id"] == env_id and r["demonstrations"] == demonstrations),
                  key=lambda r: r["width"])


def smallest_width(curve: list[dict[str, Any]], expert: dict[str, Any]) -> dict[str, Any]:
    """The smallest width whose clone's Wilson lower end reaches EXPERT_FRACTION of the expert's (``None`` if none).

    Both sides are read by §1.3's standard, the lower end of the 95% Wilson interval: the clone's says which
    success a network of that width is shown to reach, the expert's which success the task is shown to admit.
    """
    bar = EXPERT_FRACTION * expert["ci95_low"]
    reaching = [r for r in curve if r["ci95_low"] >= bar]
    first = reaching[0] if reaching else {}
    return {"bar": bar, "width": first.get("width"), "success_rate": first.get("success_rate"),
            "ci95_low": first.get("ci95_low"), "widths": [r["width"] for r in curve]}


def paired_interval(a: str, b: str) -> tuple[float, float]:
    """The 95% interval of p_a - p_b for two policies scored on the same episodes (``a`` and ``b`` one 0/1
    character per episode, in the same order): Newcombe's paired method 10 on their 2 x 2 table
    (:func:`gcrl.rl.evaluate.paired_newcombe_interval`)."""
    return paired_newcombe_interval(*paired_table(a, b))


def dagger_against_bc(dagger_rows: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At every number of expert episodes both methods used: DAgger's success minus cloning's, with the paired
    interval of :func:`paired_interval` (both are scored on the same held-out episodes), and whether its lower end
    clears the non-inferiority margin."""
    env_id = dagger_rows[0]["env_id"]
    bc = {r["demonstrations"]: r for r in bc_curve(rows, env_id)}
    matched = []
    for d in dagger_rows:
        b = bc.get(d["demonstrations"])
        if b is None:
            continue
        low, high = paired_interval(d["outcomes"], b["outcomes"])
        matched.append({"demonstrations": d["demonstrations"], "labels": d["labels"], "dagger": d["success_rate"],
                        "bc": b["success_rate"], "difference": d["success_rate"] - b["success_rate"],
                        "ci95_low": low, "ci95_high": high, "episodes": d["episodes"],
                        "interval": "paired (Newcombe 1998b, method 10)",
                        "only_dagger": sum(x == "1" and y == "0" for x, y in zip(d["outcomes"], b["outcomes"])),
                        "only_bc": sum(x == "0" and y == "1" for x, y in zip(d["outcomes"], b["outcomes"])),
                        "seeds": [d["seed"], b["seed"]], "margin": NONINFERIORITY_MARGIN,
                        "noninferior": low > -NONINFERIORITY_MARGIN})
    return matched


def difference_text(row: dict[str, Any]) -> str:
    """What the paired interval of a difference says: whether it excludes zero, whether its lower end clears the
    non-inferiority margin, and for which fits it speaks."""
    verdict = ("DAgger is better" if row["ci95_low"] > 0 else "cloning is better" if row["ci95_high"] < 0
               else "the two are not distinguishable at this number of episodes")
    margin = (f"its lower end lies above -{row['margin']:.2f}, so DAgger is not worse than cloning by more than that "
              "margin" if row["noninferior"] else
              f"its lower end does not lie above -{row['margin']:.2f}, so DAgger is not shown to be within that "
              "margin of cloning")
    return (f"{row['dagger']:.0%} against {row['bc']:.0%} at {row['demonstrations']:,} expert episodes "
            f"({row['labels']:,} labels), a difference of {row['difference']:+.2f} "
            f"(95% paired interval [{row['ci95_low']:+.2f}, {row['ci95_high']:+.2f}] on the same {row['episodes']} "
            f"held-out episodes, {row['only_dagger']} solved by DAgger alone and {row['only_bc']} by cloning alone): "
            f"{verdict}, and {margin}; one fit per method (seeds {row['seeds'][0]} and {row['seeds'][1]}), so this "
            "speaks for these two fitted policies, not for the two methods over training seeds")


def unmatched_text(comparison: list[dict[str, Any]], demonstrations: tuple[int, ...], dagger_rows:
                   list[dict[str, Any]]) -> str:
    """Which numbers of expert episodes the cloning curve has that no DAgger round matches, and DAgger's own."""
    matched = {c["demonstrations"] for c in comparison}
    missing = [n for n in demonstrations if n not in matched]
    rounds = ", ".join(f"{r['demonstrations']:,}" for r in dagger_rows)
    if not missing:
        return f"every number of expert episodes the cloning curve has is matched by a DAgger round ({rounds})"
    return (f"at {', '.join(f'{n:,}' for n in missing)} expert episodes the chapter trains no DAgger round to "
            f"compare with cloning: DAgger's rounds end at {rounds} episodes, so only "
            f"{', '.join(f'{n:,}' for n in sorted(matched)) or 'none'} can be compared")


def interval_against(record: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """Where one success rate's 95% interval lies against the others': below all, above all, or overlapping."""
    if all(record["ci95_high"] < o["ci95_low"] for o in others):
        return "lies entirely below the other experts' intervals"
    if all(record["ci95_low"] > o["ci95_high"] for o in others):
        return "lies entirely above the other experts' intervals"
    return "overlaps at least one other expert's interval"


def width_reading(width_record: dict[str, dict[str, Any]]) -> str:
    """What the width grid shows, task by task, decided by whether a width reached the bar."""
    found = [env_id for env_id, w in width_record.items() if w["smallest"]["width"] is not None]
    missing = [env_id for env_id in width_record if env_id not in found]
    parts = []
    if found:
        parts.append("Where a width reached it, this is existence in a bounded class, measured: a network of that "
                     "size, fitted by the stated procedure from the stated data, is shown to do nearly as well as the "
                     "expert is shown to do, each by the lower end of its interval. It bounds the width "
                     "needed from above, not from below: a better fit (more data, more passes, a loss that weights "
                     "the switching states) could need less.")
    if missing:
        parts.append(f"On {', '.join(task_name(e) for e in missing)} no width of the grid reached it, so existence in "
                     "the class is not shown there at this number of demonstrations.")
    return " ".join(parts)


# --- learning from demonstrations ----------------------------------------------------------------------------------

#: The two arms of §3.6: the same recipe, seeds and budget, with the expert's episodes and without them.
WITH, WITHOUT = "SAC+HER with demonstrations", "SAC+HER alone"
LfdKey = tuple[str, int]


def lfd_plan(budget: ExistenceBudget, seed: int) -> dict[LfdKey, SacHerConfig]:
    """Both arms on every seed, each evaluated and checkpointed every ``lfd_eval_every`` steps."""
    if budget.lfd_demos < 1:
        raise CourseError(f"learning from demonstrations needs at least one demonstration, got {budget.lfd_demos}")
    common = dict(total_steps=budget.lfd_env_steps, eval_every=budget.lfd_eval_every,
                  checkpoint_every=budget.lfd_eval_every, eval_episodes=budget.lfd_eval_episodes,
                  **dict(budget.lfd_overrides))
    demos = {WITH: {"demo_episodes": budget.lfd_demos}, WITHOUT: {}}
    return {(arm, s): make_config("sac+her", budget.lfd_task, seed=s, **common, **demos[arm])
            for arm in (WITH, WITHOUT) for s in range(seed, seed + budget.lfd_seeds)}


def lfd_folder(key: LfdKey) -> str:
    return f"{'demos' if key[0] == WITH else 'alone'}-seed{key[1]}"


def train_lfd(budget: ExistenceBudget, seed: int, runs_folder: Path, run: RunRecord) -> dict[LfdKey, RunResult]:
    """Train both arms as one grid (resumable; complete runs are read back)."""
    return train_plan(lfd_plan(budget, seed), runs_folder, run, lfd_folder)


def lfd_comparison(results: dict[LfdKey, RunResult]) -> dict[str, Any]:
    """Each arm's final success pooled over its seeds (``with``, ``without``) and the difference with its 95%
    interval.

    Both arms are scored on the same held-out episodes. With one run per arm the interval is the paired one of
    :func:`paired_interval`; with several it is the two-stage bootstrap of
    :func:`gcrl.analysis.experiments.pooled_difference`, seeds then episodes within seeds: the episodes of one
    run share its training seed, and pooling them as if they were independent would hide the variation between
    seeds (a run that fails outright counts as a few failed episodes, not as one failed seed).
    """
    runs = {arm: [r for (a, _), r in sorted(results.items()) if a == arm] for arm in (WITH, WITHOUT)}
    w, wo = (pooled([r.curve[-1] for r in runs[arm]]) for arm in (WITH, WITHOUT))
    outcomes = {arm: final_outcomes([r.curve for r in runs[arm]]) for arm in (WITH, WITHOUT)}
    if len(outcomes[WITH]) == len(outcomes[WITHOUT]) == 1:
        (low, high), interval = paired_interval(outcomes[WITH][0], outcomes[WITHOUT][0]), "paired"
    else:
        gap = pooled_difference(outcomes[WITH], outcomes[WITHOUT])
        low, high, interval = gap["ci95_low"], gap["ci95_high"], "two-stage bootstrap"
    return {"with": w, "without": wo, "difference": w["success_rate"] - wo["success_rate"],
            "ci95_low": low, "ci95_high": high, "seeds": [w["runs"], wo["runs"]], "interval": interval}


def lfd_text(comparison: dict[str, Any]) -> str:
    """What the difference says, decided by whether its interval excludes zero, and for what: these two runs
    when each arm has one, the method at this budget over the seeds when each has several."""
    w, wo = comparison["with"], comparison["without"]
    single = comparison["interval"] == "paired"
    if single:
        verdict = ("the run with demonstrations ends above the run without" if comparison["ci95_low"] > 0 else
                   "the run with demonstrations ends below the run without" if comparison["ci95_high"] < 0 else
                   "the two runs are not distinguishable on these episodes")
        scope = ("one training seed per arm, so the interval, paired over the same held-out episodes, speaks for "
                 "these two runs, not for the two methods over training seeds (Chapter 6 measures that)")
    else:
        verdict = ("the demonstrations help at this budget" if comparison["ci95_low"] > 0 else
                   "the demonstrations hurt at this budget" if comparison["ci95_high"] < 0 else
                   "the two arms are not distinguishable at this budget")
        scope = (f"{w['runs']} and {wo['runs']} training seeds, so the interval, a two-stage bootstrap over seeds and "
                 "then episodes within each seed, carries the variation between training seeds as well as between "
                 f"episodes, as far as {min(w['runs'], wo['runs'])} seeds per arm can estimate it")
    return (f"{w['success_rate']:.0%} with demonstrations against {wo['success_rate']:.0%} without "
            f"({w['episodes']} held-out episodes per arm), a difference of {comparison['difference']:+.2f} "
            f"(95% {comparison['interval']} interval [{comparison['ci95_low']:+.2f}, "
            f"{comparison['ci95_high']:+.2f}]): {verdict}; {scope}")


def q_filter_on_a_batch(agent: algorithm.Agent, obs: torch.Tensor, demo_action: torch.Tensor) -> dict[str, Any]:
    """The Q-filter of a trained agent on a batch of demonstrated transitions: where it lets the cloning loss act
    (the critic prefers the demonstration), and whether the loss's gradient vanishes on every other row."""
    mean_action, _ = agent.actor(obs, deterministic=True)
    mask = algorithm.q_filter_mask(agent, obs, demo_action, mean_action.detach())
    prefers_demo = algorithm.pairwise_min(agent.critic(obs, demo_action)) > \
        algorithm.pairwise_min(agent.critic(obs, mean_action))
    agent.zero_grad(set_to_none=True)
    rejected = ~mask
    if bool(rejected.any()):
        algorithm.cloning_loss(agent, obs[rejected], demo_action[rejected], filtered=True).backward()
    silent = all(p.grad is None or not bool(p.grad.any()) for p in agent.actor.parameters())
    agent.zero_grad(set_to_none=True)
    return {"rows": len(obs), "passed": int(mask.sum()), "fraction_passed": float(mask.float().mean()),
            "mask_is_the_comparison": bool(torch.equal(mask, prefers_demo)), "rejected_rows_give_no_gradient": silent}


def trained_q_filter(result: RunResult, demonstrations: int, seed: int) -> dict[str, Any]:
    """:func:`q_filter_on_a_batch` on the trained learner of ``result``: a minibatch of 256 transitions of its task's
    first ``demonstrations`` expert episodes, drawn and relabelled as in training (generator seeded with ``seed``)."""
    config = result.config
    agent, normalizer = load_agent(result.run_dir, config)
    replay = DemonstrationReplay(config.env_id, demonstrations)
    env = make_fetch_env(config.env_id)
    try:
        obs, demo_action, _, _ = replay.sample(256, config.n_sampled_goal, config.goal_selection_strategy,
                                               np.random.default_rng(seed), env.unwrapped.compute_reward)
    finally:
        env.close()
    return q_filter_on_a_batch(agent, torch.from_numpy(normalizer(obs)), torch.from_numpy(demo_action))
