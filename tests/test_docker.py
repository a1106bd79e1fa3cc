"""docker/dev.sh --dry-run prints a correct GPU invocation; the image installs like CI does."""

from __future__ import annotations

import os
import shlex
import subprocess

import pytest


def dry_run(repo_root, *args, env=None):
    done = subprocess.run(
        ["bash", str(repo_root / "docker" / "dev.sh"), "--dry-run", *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=60,
    )
    return done


def commands(done) -> list[list[str]]:
    return [shlex.split(line) for line in done.stdout.splitlines() if line.startswith("docker ")]


def test_book_runs_with_gpu_mount_user_and_env(repo_root):
    done = dry_run(repo_root, "--profile", "smoke", "book")
    assert done.returncode == 0, done.stderr
    build, run = commands(done)
    assert build[:2] == ["docker", "build"] and f"UID={os.getuid()}" in build and f"GID={os.getgid()}" in build
    image = build[build.index("-t") + 1]
    assert image.startswith("gcrl-course:")
    assert run[:3] == ["docker", "run", "--rm"]
    assert "--gpus" in run and run[run.index("--gpus") + 1] == "all"
    assert run[run.index("-v") + 1] == f"{repo_root}:/workspace"
    assert run[run.index("--user") + 1] == f"{os.getuid()}:{os.getgid()}"
    env = {run[i + 1] for i, token in enumerate(run) if token == "-e"}
    assert {"GCRL_PROFILE=smoke", "MUJOCO_GL=egl"} <= env
    assert run[run.index(image) + 1:] == ["make", "book"]


@pytest.mark.parametrize("args, tail", [
    (("test",), ["make", "test"]),
    (("shell",), ["bash"]),
    (("chapter", "ch00"), ["make", "chapters", "CHAPTERS=ch00"]),
])
def test_subcommands(repo_root, args, tail):
    run = commands(dry_run(repo_root, *args))[-1]
    assert run[-len(tail):] == tail


def test_lab_publishes_on_localhost_only_and_prints_its_port(repo_root):
    done = dry_run(repo_root, "--port", "8899", "lab")
    run = commands(done)[-1]
    assert run[run.index("-p") + 1] == "127.0.0.1:8899:8899"
    assert "http://localhost:8899" in done.stderr and "this host only" in done.stderr
    assert "LAB_ARGS=--ip=0.0.0.0 --port=8899 --no-browser" in run


def test_lab_on_every_interface_only_when_asked(repo_root):
    done = dry_run(repo_root, "--expose", "lab")
    run = commands(done)[-1]
    assert run[run.index("-p") + 1] == "0.0.0.0:8888:8888"
    assert "every interface" in done.stderr


def test_make_lab_starts_as_root_with_a_note(repo_root, tmp_path):
    """JupyterLab refuses to run as root unless told; make lab tells it, and says so."""
    fake = tmp_path / "venv" / "bin"
    fake.mkdir(parents=True)
    (fake / "jupyter").write_text("#!/bin/sh\necho jupyter \"$@\"\n")
    (fake / "jupyter").chmod(0o755)
    done = subprocess.run(["make", "-s", "-C", str(repo_root), "-o", "install", "-o", "sysdeps", "lab",
                           f"VENV={tmp_path / 'venv'}", "LAB_ARGS=--no-browser"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if os.getuid() == 0:
        assert "jupyter lab --allow-root --no-browser notebooks/" in done.stdout
        assert "running as root" in done.stdout
    else:
        assert "jupyter lab --no-browser notebooks/" in done.stdout


@pytest.mark.parametrize("args, message", [
    (("bogus",), "unknown command 'bogus'"),
    (("--profile", "fast", "book"), "unknown profile 'fast'"),
    (("chapter",), "chapter needs at least one chapter id"),
])
def test_bad_input_is_one_clear_line(repo_root, args, message):
    done = dry_run(repo_root, *args)
    assert done.returncode == 2 and message in done.stderr


def test_image_installs_with_the_ci_make_target(repo_root):
    dockerfile = (repo_root / "docker" / "Dockerfile").read_text()
    makefile = (repo_root / "Makefile").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile and "nvcr.io/nvidia/pytorch:" in dockerfile
    assert "make -C /opt/gcrl-setup deps" in dockerfile and "TORCH=system" in dockerfile
    assert "MUJOCO_GL=egl" in dockerfile
    assert "GCRL_CHROMIUM=playwright" in dockerfile and "playwright install --with-deps chromium" in dockerfile
    # CI runs `make test`, whose install step depends on the same `deps` stamp the image builds.
    assert "test: install sysdeps" in makefile and "install: $(PKG_STAMP)" in makefile
    assert "$(PKG_STAMP): $(DEPS_STAMP)" in makefile and "deps: $(DEPS_STAMP)" in makefile
    ignored = (repo_root / ".dockerignore").read_text().split()
    copied = dockerfile.split("COPY ", 1)[1].split(" /opt/gcrl-setup/")[0].split()
    assert all(f"!{name}" in ignored for name in copied), "the build context must include what the image copies"
