"""Sweeps: the file format and its errors, trial expansion, and a tiny sweep on a local Ray instance."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from gcrl.rl.sac_her import learner as sac_her
from gcrl.core.errors import CourseError
from gcrl.core.provenance import RunRecord
from gcrl.analysis.sweep import SweepSpec, run_sweep
from gcrl.rl.learners import train

SAC_HER = {"name": "comparison", "label": "SAC+HER", "algo": "sac+her", "env_id": "FetchReach-v4",
           "config": {"total_steps": 100, "learning_starts": 50, "eval_every": 50, "eval_episodes": 2,
                      "checkpoint_every": 50}}
PPO = {"name": "comparison", "label": "PPO", "algo": "ppo", "env_id": "FetchReach-v4",
       "config": {"total_steps": 128, "n_steps": 16, "batch_size": 32, "eval_every": 64, "eval_episodes": 2,
                  "checkpoint_every": 64}}


def spec(**changes) -> SweepSpec:
    return SweepSpec.from_dict({"name": "tiny", "seeds": 2, "groups": [SAC_HER, PPO], **changes})


@pytest.mark.parametrize("data, message", [
    ({"name": "x", "seeds": 2}, "a sweep is a mapping with name, seeds and groups"),
    ({"name": "x", "seeds": 0, "groups": [SAC_HER]}, "seeds must be a positive count"),
    ({"name": "x", "seeds": [1, 1], "groups": [SAC_HER]}, "distinct seeds"),
    ({"name": "x", "seeds": 2, "groups": []}, "groups must be a non-empty list"),
    ({"name": "x", "seeds": 2, "groups": [{**SAC_HER, "algo": "dqn"}]}, "unknown algo 'dqn'"),
    ({"name": "x", "seeds": 2, "groups": [{**SAC_HER, "colour": "red"}]}, "unknown ['colour']"),
    ({"name": "x", "seeds": 2, "groups": [{k: v for k, v in SAC_HER.items() if k != "env_id"}]}, "missing ['env_id']"),
    ({"name": "x", "seeds": 2, "groups": [{**SAC_HER, "config": {"seed": 3}}]}, "config may not set seed"),
    ({"name": "x", "seeds": 2, "groups": [{**SAC_HER, "vary": {"batch_size": []}}]}, "non-empty list of values"),
    ({"name": "x", "seeds": 2, "groups": [{**SAC_HER, "vary": {"batch_size": [0]}}]}, "batch_size must be a positive"),
    ({"name": "x", "seeds": 2, "groups": [{**PPO, "config": {"total_steps": 64, "n_sampled_goal": 2}}]},
     "n_sampled_goal"),
])
def test_bad_sweeps_are_named(data, message):
    with pytest.raises(CourseError) as error:
        SweepSpec.from_dict(data)
    assert message in str(error.value)


def test_a_missing_or_malformed_file_is_a_clear_error(tmp_path):
    with pytest.raises(CourseError, match="no sweep file"):
        SweepSpec.from_file(tmp_path / "nothing.yml")
    (tmp_path / "bad.yml").write_text("groups: [unclosed\n")
    with pytest.raises(CourseError, match="not valid YAML"):
        SweepSpec.from_file(tmp_path / "bad.yml")


def test_chapter_six_sweeps_meet_the_issue():
    """At least 5 seeds in standard and 10 in full; the three methods compared; lr, batch and k varied
    on Reach (standard) and Push (full)."""
    from gcrl.course.profiles import budget

    for profile, seeds, sensitivity_task in (("smoke", 2, "FetchReach-v4"), ("standard", 5, "FetchReach-v4"),
                                             ("full", 10, "FetchPush-v4")):
        spec = SweepSpec.from_dict(budget("ch06", profile).sweep)
        assert len(spec.seeds) >= seeds and budget("ch06", profile).seeds == len(spec.seeds)
        trials = spec.trials()
        assert {t.label for t in trials if t.group == "comparison"} == {"SAC+HER", "SAC, no HER", "PPO"}
        varied = {t.label.split("=")[0] for t in trials if t.group == "sensitivity" and "=" in t.label}
        assert varied == {"learning_rate", "batch_size", "n_sampled_goal"}
        assert {t.env_id for t in trials if t.group == "sensitivity"} == {sensitivity_task}
        no_her = [t.build() for t in trials if t.label == "SAC, no HER"]
        assert no_her and all(c.n_sampled_goal == 0 for c in no_her)
    full = SweepSpec.from_dict(budget("ch06", "full").sweep).trials()
    assert {t.env_id for t in full if t.group == "comparison"} == {"FetchReach-v4", "FetchPush-v4"}
    standard = SweepSpec.from_dict(budget("ch06", "standard").sweep).trials()
    steps = {t.label: t.build().total_steps for t in standard if t.group == "comparison"}
    assert steps["PPO"] >= 10 * steps["SAC+HER"], "PPO gets a budget at which the comparison is a question"


def test_a_chapter_sweep_prints_as_a_sweep_file_that_reads_back(cli, tmp_path):
    done = cli("sweep", "--chapter", "ch06", "--profile", "standard", "--print")
    assert done.returncode == 0, done.stderr
    (tmp_path / "ch06.yml").write_text(done.stdout)
    from gcrl.course.profiles import budget

    assert SweepSpec.from_file(tmp_path / "ch06.yml") == SweepSpec.from_dict(budget("ch06", "standard").sweep)
    both = cli("sweep", str(tmp_path / "ch06.yml"), "--chapter", "ch06", "--print")
    assert both.returncode != 0 and "not both" in both.stderr


def test_vary_expands_one_parameter_at_a_time_and_identical_trials_share_a_folder():
    sensitivity = {**SAC_HER, "name": "sensitivity",
                   "vary": {"learning_rate": [0.001, 0.003], "n_sampled_goal": [1, 8]}}
    trials = spec(groups=[SAC_HER, sensitivity]).trials(seed_offset=10)
    labels = [t.label for t in trials if t.group == "sensitivity"]
    # 0.001 is the recipe's learning rate, but the group's config does not set it: it gets its own label
    assert labels == [l for l in ("SAC+HER", "learning_rate=0.001", "learning_rate=0.003", "n_sampled_goal=1",
                                  "n_sampled_goal=8") for _ in range(2)]
    assert sorted({t.seed for t in trials}) == [10, 11]
    by_label = {(t.group, t.label, t.seed): t for t in trials}
    recipe = by_label[("comparison", "SAC+HER", 10)]
    assert recipe.folder_name == by_label[("sensitivity", "SAC+HER", 10)].folder_name
    assert recipe.folder_name == by_label[("sensitivity", "learning_rate=0.001", 10)].folder_name
    assert recipe.folder_name != by_label[("sensitivity", "learning_rate=0.003", 10)].folder_name
    assert recipe.folder_name != by_label[("comparison", "SAC+HER", 11)].folder_name
    assert by_label[("sensitivity", "n_sampled_goal=8", 11)].build().n_sampled_goal == 8


def test_a_tiny_sweep_runs_on_local_ray_and_resumes(tmp_path, monkeypatch):
    """The CI test of the Ray path: train, read back, then resume one interrupted trial from its checkpoint."""
    monkeypatch.delenv("GCRL_RAY_ADDRESS", raising=False)
    tiny = spec()
    run = RunRecord(profile="smoke", seeds=[0, 1])
    first = run_sweep(tiny, tmp_path, run)
    assert first.backend.startswith("Ray ") and "embedded" in first.backend
    assert len(first.trained) == 4 and not first.reused
    results = first.group("comparison")
    assert set(results) == {"SAC+HER", "PPO"}
    for label, steps in (("SAC+HER", 100), ("PPO", 128)):
        runs = results[label]["FetchReach-v4"]
        assert [r.config.seed for r in runs] == [0, 1]
        for r in runs:
            metrics = json.loads((r.run_dir / "metrics.json").read_text())
            assert metrics["env_steps"] == steps and metrics["provenance"]["profile"] == "smoke"
            assert r.curve[-1]["episodes"] == 2 and 0 <= r.curve[-1]["success_rate"] <= 1

    again = run_sweep(tiny, tmp_path, run)
    assert not again.trained and len(again.reused) == 4 and again.backend.startswith("none")
    assert {n: r.curve for n, r in again.results.items()} == {n: r.curve for n, r in first.results.items()}

    # Interrupt one trial during its second cycle, between its checkpoints at 50 and 100 env steps.
    trial = next(t for t in tiny.trials() if t.algo == "sac+her" and t.seed == 1)
    straight = first.result(trial).curve
    shutil.rmtree(tmp_path / trial.folder_name)
    original = sac_her.TrainingState.gradient_step

    def interrupted(self):
        if self.steps == 50:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(sac_her.TrainingState, "gradient_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(trial.build(), tmp_path / trial.folder_name, run)
    monkeypatch.setattr(sac_her.TrainingState, "gradient_step", original)
    assert not (tmp_path / trial.folder_name / "metrics.json").exists()

    resumed = run_sweep(tiny, tmp_path, run)
    assert resumed.trained == [trial.folder_name] and len(resumed.reused) == 3
    assert resumed.result(trial).metrics["resumed_from"] == 50
    keys = ("env_steps", "successes", "mean_final_distance", "entropy")
    assert [[row[k] for k in keys] for row in resumed.result(trial).curve] == [[row[k] for k in keys] for row in straight]


def test_a_trial_folder_of_another_configuration_is_retrained_not_reused(tmp_path):
    """A completed folder counts only for the exact configuration it recorded."""
    from gcrl.analysis.scheduler import completed

    trial = spec().trials()[0]
    folder = tmp_path / trial.folder_name
    folder.mkdir()
    config = trial.build()
    (folder / "curve.json").write_text("[]")
    (folder / "metrics.json").write_text(json.dumps({"config": {**config.as_dict(), "batch_size": 7}}))
    assert completed(config, folder) is None
    (folder / "metrics.json").write_text(json.dumps({"config": config.as_dict()}))
    assert completed(config, folder) == ({"config": config.as_dict()}, [])


def test_the_sweep_cli_prints_each_configurations_iqm(tmp_path, cli):
    sweep_file = tmp_path / "one.yml"
    sweep_file.write_text(yaml.safe_dump({"name": "one", "seeds": [3], "groups": [SAC_HER]}))
    done = cli("sweep", str(sweep_file), "--runs", str(tmp_path / "runs"), "--profile", "smoke")
    assert done.returncode == 0, done.stderr
    assert "1 trials trained, 0 read back" in done.stdout and "IQM final success" in done.stdout
    bad = cli("sweep", str(tmp_path / "missing.yml"), "--runs", str(tmp_path / "runs"))
    assert bad.returncode != 0 and "no sweep file" in bad.stderr


@pytest.fixture
def ray_head(monkeypatch):
    """A Ray head started the way a new user starts one (``ray start --head``) on a machine where Ray ran before:
    Ray has left a token in ~/.ray/auth_token, so the head enables token authentication (Ray 2.60's default)."""
    import socket
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    home = tempfile.mkdtemp(prefix="ray-home-")  # the token goes here, not into the tester's ~/.ray
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray_cli = str(Path(sys.executable).with_name("ray"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    env["HOME"] = home
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # the head, its workers and every client on 127.0.0.1 only
    subprocess.run([ray_cli, "get-auth-token", "--generate"], env=env, capture_output=True, check=True, timeout=60)
    started = subprocess.run([ray_cli, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                              "--node-ip-address=127.0.0.1",
                              f"--temp-dir={temp_dir}", "--disable-usage-stats"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    assert "Token authentication is enabled" in started.stderr + started.stdout
    for name in [k for k in os.environ if k.startswith("RAY_")] + ["RAY_AUTH_MODE", "GCRL_RAY_ADDRESS"]:
        monkeypatch.delenv(name, raising=False)  # restored afterwards, whatever the sweep set
    monkeypatch.setenv("HOME", home)
    yield f"127.0.0.1:{port}", env
    subprocess.run([ray_cli, "stop", "--force"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(temp_dir, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


def test_a_sweep_joins_a_cluster_started_the_default_way_and_the_embedded_one_ignores_it(ray_head, tmp_path, cli):
    """Token authentication as Ray 2.60 sets it up by default; a client with no token fails with one clear line."""
    address, env = ray_head
    tiny = spec(seeds=1)
    # as a user joins it: `gcrl sweep FILE --address`, each time in a new process
    tiny_file = tmp_path / "tiny.yml"
    tiny_file.write_text(yaml.safe_dump(tiny.as_dict()))
    for trained, read_back in ((2, 0), (0, 2)):
        joined = cli("sweep", str(tiny_file), "--runs", str(tmp_path / "cluster"), "--profile", "smoke",
                     "--address", address, env=env, timeout=300)
        assert joined.returncode == 0, joined.stderr[-3000:]
        assert f"{trained} trials trained, {read_back} read back" in joined.stdout, joined.stdout
        assert (f"cluster at {address}" if trained else "every trial was complete") in joined.stdout, joined.stdout

    # the embedded sweep starts its own instance, though a cluster runs here and RAY_ADDRESS names it
    embedded = cli("sweep", str(tiny_file), "--runs", str(tmp_path / "embedded"), "--profile", "smoke",
                   env={**env, "RAY_ADDRESS": address}, timeout=300)
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    assert "2 trials trained, 0 read back" in embedded.stdout and "embedded" in embedded.stdout, embedded.stdout

    sweep_file = tmp_path / "one.yml"
    sweep_file.write_text(yaml.safe_dump({"name": "one", "seeds": [3], "groups": [SAC_HER]}))
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    refused = cli("sweep", str(sweep_file), "--runs", str(tmp_path / "refused"), "--profile", "smoke",
                  "--address", address, env={**env, "HOME": str(stranger)}, timeout=300)
    assert refused.returncode != 0
    assert f"cannot connect to the Ray cluster at {address}" in refused.stderr, refused.stderr[-3000:]
    assert "this machine has none: copy the head's (`ray get-auth-token` there)" in refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr[-3000:]
    nobody = cli("sweep", str(sweep_file), "--runs", str(tmp_path / "refused"), "--address", "127.0.0.1:1", env=env)
    assert nobody.returncode != 0 and "no Ray cluster answers at 127.0.0.1:1" in nobody.stderr


CHAPTER_GRID = """
import json, sys
from pathlib import Path
from gcrl.analysis.scheduler import train_plan
from gcrl.core.provenance import RunRecord
from gcrl.rl.learners import make_config


def folder(key):
    return f"{key[0]}-seed{key[1]}"


if __name__ == "__main__":  # the local path spawns worker processes, which import this file again
    settings = dict(total_steps=100, learning_starts=50, eval_every=50, eval_episodes=2, checkpoint_every=50)
    plan = {("FetchReach-v4", seed): make_config("sac+her", "FetchReach-v4", seed=seed, **settings) for seed in (0, 1)}
    results = train_plan(plan, Path(sys.argv[1]), RunRecord(profile="smoke", seeds=[0, 1]), folder)
    print("RESULTS " + json.dumps({f"{env}-{seed}": [r.metrics["env_steps"], r.metrics["train_time_s"], r.curve]
                                   for (env, seed), r in results.items()}))
"""


def test_a_chapters_grid_trains_on_the_cluster_it_is_given_and_reads_back_without_it(ray_head, tmp_path):
    """``GCRL_RAY_ADDRESS`` sends a chapter's grid of runs (the full profile's long runs among them) to the cluster;
    the same grid executed afterwards on this machine alone reads those runs back instead of training them."""
    import subprocess
    import sys

    address, env = ray_head
    script = tmp_path / "grid.py"
    script.write_text(CHAPTER_GRID)

    def grid(**extra):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / "runs")], capture_output=True, text=True,
                              env={**{k: v for k, v in env.items() if k != "GCRL_RAY_ADDRESS"}, **extra}, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        line = next(x for x in done.stdout.splitlines() if x.startswith("RESULTS "))
        return done.stdout, json.loads(line.removeprefix("RESULTS "))

    on_cluster, trained = grid(GCRL_RAY_ADDRESS=address)
    assert f"2 runs trained, 0 read back (Ray " in on_cluster and f"cluster at {address}" in on_cluster, on_cluster
    assert [v[0] for v in trained.values()] == [100, 100]
    again, reread = grid(GCRL_RAY_ADDRESS=address)
    assert "0 runs trained, 2 read back" in again and reread == trained
    alone, local = grid()  # no cluster named: the process pool, which finds every run complete
    assert "runs trained" not in alone and local == trained  # same training time: read back, not trained again
