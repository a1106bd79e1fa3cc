"""The pins: one set, stated three times (requirements, constraints, environment.yml), all in agreement."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

import yaml

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def test_environment_yml_equals_requirements(repo_root):
    requirements = read_pins((repo_root / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    mirrored = read_pins(entry for entry in pip_section if entry != "-e .")
    assert mirrored == requirements, "environment.yml's pip section must list exactly requirements.txt's pins"
    assert "-e ." in pip_section, "environment.yml must install the course package itself"


def test_requirements_agree_with_constraints(repo_root):
    requirements = read_pins((repo_root / "requirements.txt").read_text().splitlines())
    constraints = read_pins((repo_root / "constraints.txt").read_text().splitlines())
    disagreements = {n: (v, constraints.get(n)) for n, v in requirements.items() if constraints.get(n) != v}
    assert not disagreements, f"requirements.txt vs constraints.txt: {disagreements}"


def test_installed_versions_match_the_pins(repo_root):
    requirements = read_pins((repo_root / "requirements.txt").read_text().splitlines())
    drift = {}
    for name, version in requirements.items():
        installed = importlib.metadata.version(name).split("+")[0]
        if installed != version:
            drift[name] = (version, installed)
    assert not drift, f"installed versions differ from the pins (run make install): {drift}"


def test_key_pins_are_the_checked_ones(repo_root):
    requirements = read_pins((repo_root / "requirements.txt").read_text().splitlines())
    assert requirements["mujoco"] == "3.11.0"
    assert requirements["jupyter-book"] == "1.0.4.post1"
    assert requirements["gymnasium-robotics"] == "1.4.2"


def test_pyproject_reads_dependencies_from_requirements(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())
    assert "dependencies" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements.txt"]
