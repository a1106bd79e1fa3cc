"""Bit for bit: short runs of every kind of learner give the parameters they gave when these digests were pinned.

A refactoring of the learners (the run procedure, the configs, the losses) must not change a single bit of
what a run computes. Each case trains a short run and hashes the parameters in its final checkpoint; the digests
below were recorded on the code before such a change, and the test fails if any differs. Floating-point sums
depend on the CPU's vector instructions (torch picks kernels by ``get_cpu_capability``), so the digests are
pinned per capability and torch version; on a machine with another, the test says so and how to record them
(``GCRL_PRINT_DIGESTS=1`` prints each case's digest).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
import torch

from gcrl.rl import learners

SAC_HER = dict(total_steps=300, learning_starts=100, batch_size=32, net_arch=(16, 16), eval_every=100,
               eval_episodes=2, checkpoint_every=100, collector="inline", n_envs=1, episodes_per_cycle=1,
               updates_per_cycle=50)

CASES = {
    "reach-sac+her": ("sac+her", "FetchReach-v4", SAC_HER),
    "push-sac+her": ("sac+her", "FetchPush-v4", {**SAC_HER, "total_steps": 400, "n_envs": 2, "updates_per_cycle": 20,
                                                  "eval_every": 200, "checkpoint_every": 200,
                                                  "critic_layer_norm": True, "actual_goal_fraction": 0.5,
                                                  "action_l2": 1.0, "target_clip": True, "random_eps": 0.3}),
    "pickandplace-demonstrations": ("sac+her", "FetchPickAndPlace-v4", {**SAC_HER, "demo_episodes": 3,
                                                                        "demo_batch_size": 16}),
    "reach-sb3-sac": ("sac", "FetchReach-v4", dict(total_steps=300, eval_every=100, eval_episodes=2,
                                                     checkpoint_every=100, learning_starts=100, batch_size=32,
                                                     policy_kwargs={"net_arch": [16, 16]})),
}

#: {(cpu capability, torch version): {case: sha256 of the final parameters}}
PINNED = {
    ("AVX512", "2.13.0+cpu"): {
        "reach-sac+her": "b4c3882ca392a6fd1930e1f0b0ebec2fcc12218257f9b71448b998ebc7d405be",
        "push-sac+her": "1614e20db66ebaad17d5ed74e82c77b6793ac976207ae5aa31c865442c415a6b",
        "pickandplace-demonstrations": "c266aa3549cf14046fd372546cd8c90438c75290c0f948fab7ff8ec759f26696",
        "reach-sb3-sac": "8d9367b70b72e8889419aeb8fba2dbeb1f357faa72768f6a239d9fea410379b3",
    },
}


def parameter_digest(run_dir: Path) -> str:
    """SHA-256 over the final checkpoint's parameters, in key order, whichever learner wrote it."""
    folder = run_dir / "checkpoint"
    if (folder / "agent.pt").is_file():
        state = torch.load(folder / "agent.pt", weights_only=False, map_location="cpu")["agent"]
    else:  # a Stable-Baselines3 model: its policy's state dict inside model.zip
        with zipfile.ZipFile(folder / "model.zip") as archive:
            state = torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=False, map_location="cpu")
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train(algo: str, env_id: str, settings: dict, run_dir: Path):
    return learners.train(learners.make_config(algo, env_id, **settings), run_dir)


def check(name: str, digest: str) -> None:
    if os.environ.get("GCRL_PRINT_DIGESTS"):
        print(f"\n    {name!r}: {digest!r},")
    machine = (torch.backends.cpu.get_cpu_capability(), torch.__version__)
    if machine not in PINNED:
        pytest.skip(f"no digests pinned for CPU capability {machine[0]} with torch {machine[1]}; record them on "
                    f"the code before a change with GCRL_PRINT_DIGESTS=1 pytest -s tests/test_digests.py")
    assert digest == PINNED[machine][name], f"{name}: the run's parameters changed"


@pytest.mark.parametrize("name", list(CASES))
def test_a_short_run_gives_the_pinned_parameters(tmp_path, name):
    algo, env_id, settings = CASES[name]
    train(algo, env_id, settings, tmp_path / "run")
    check(name, parameter_digest(tmp_path / "run"))


def test_a_resumed_run_gives_the_pinned_parameters(tmp_path, monkeypatch):
    """Killed while writing its second checkpoint, resumed from the first: the parameters of the pinned run."""
    original, calls = torch.save, {"n": 0}

    def killed_on_second_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    algo, env_id, settings = CASES["reach-sac+her"]
    monkeypatch.setattr(torch, "save", killed_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        train(algo, env_id, settings, tmp_path / "run")
    monkeypatch.setattr(torch, "save", original)
    result = train(algo, env_id, settings, tmp_path / "run")
    assert result.metrics["resumed_from"] == 100
    check("reach-sac+her", parameter_digest(tmp_path / "run"))
