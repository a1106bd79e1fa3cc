"""The problem sets: every reference solution passes its check, every untouched stub fails it with a clear
message, every planted bug is caught, and wrong answers (mutants) are caught too, so no check passes vacuously."""

from __future__ import annotations

import ast
import math
import shutil

import jupytext
import numpy as np
import pytest
import torch

from gcrl.core.paths import Layout
from gcrl.course.runner import discover
from gcrl.exercises import CHAPTERS, check, problems
from gcrl.exercises.check import solution_path, stub_path
from gcrl.exercises.problem import load_module, run_check
from gcrl.exercises.solutions import ch01 as s01, ch02 as s02, ch04 as s04, ch05 as s05, ch06 as s06

ALL = [p for chapter in CHAPTERS for p in problems(chapter)]


def _wald(x, n, z=1.96):
    p = x / n
    return p - z * math.sqrt(p * (1 - p) / n), p + z * math.sqrt(p * (1 - p) / n)


class _NoClip(s05.ActionNoise):
    def action(self, action):
        return np.asarray(action) + self.rng.normal(0.0, self.sigma, np.shape(action))


def _floor_wrong_seeding(env_id, episodes, seed):  # seeds the actions per episode instead of once
    return [s01.random_floor(env_id, 1, seed + i)[0] for i in range(episodes)]


#: problem label -> wrong implementations its check must reject (the diagnosis problems' stubs are their bugs)
MUTANTS = {
    "ch00.1": [lambda a, d, threshold=0.05: -(np.linalg.norm(np.asarray(a) - d, axis=-1) >= threshold).astype(float) + 0,
               lambda a, d, threshold=0.05: (np.linalg.norm(np.asarray(a) - d, axis=-1) > threshold).astype(float),
               lambda a, d, threshold=0.05: -(np.linalg.norm(np.asarray(a) - d) > threshold) * np.ones(len(np.atleast_2d(a)))],
    "ch00.2": [lambda h, p=0.5, z=1.96: round(z * z * p * (1 - p) / h ** 2),
               lambda h, p=0.5, z=1.96: math.ceil(z * z / (4 * h * h))],
    "ch01.1": [_wald, lambda x, n, z=1.96: (max(0.0, _wald(x, n)[0]), min(1.0, _wald(x, n)[1]))],
    "ch01.2": [lambda env_id, episodes, seed: [False] * episodes, _floor_wrong_seeding],
    "ch02.1": [lambda r, g: np.cumsum(r[::-1])[::-1] * 1.0,
               lambda r, g: np.array([sum(g ** (k + t) * x for k, x in enumerate(r[t:])) for t in range(len(r))])],
    "ch02.2": [lambda r, v, nv, g, l: r + g * nv - v,
               lambda r, v, nv, g, l: s02.gae(r, v, nv, g, 1.0)],
    "ch02.3": [lambda ratio, a, c: np.clip(ratio, 1 - c, 1 + c) * a,
               lambda ratio, a, c: np.maximum(ratio * a, np.clip(ratio, 1 - c, 1 + c) * a)],
    "ch03.1": [lambda q, alpha: float(np.max(q)),
               lambda q, alpha: float(alpha * np.log(np.sum(np.exp(np.asarray(q) / alpha))))],  # overflows
    "ch03.2": [lambda m, ls, u: torch.distributions.Normal(m, ls.exp()).log_prob(u).sum(-1),
               lambda m, ls, u: (torch.distributions.Normal(m, ls.exp()).log_prob(u)
                                 - torch.log(1 - torch.tanh(u) ** 2)).sum(-1)],
    "ch03.3": [lambda la, lp, t: (la * (lp + t).detach()).mean(),
               lambda la, lp, t: -(la * (lp + t)).mean()],
    "ch04.1": [lambda k: 1 / (k + 1), lambda k: k / (k + 2)],
    "ch04.2": [lambda t, h, rng: rng.integers(np.asarray(t) + 1, h + 1) - 0,
               lambda t, h, rng: rng.integers(0, h, size=np.shape(t)),
               lambda t, h, rng: np.minimum(rng.integers(np.asarray(t), h + 5), h - 1)],
    "ch04.3": [lambda ag, t, j, threshold=0.05: (ag[t], np.zeros(len(t), dtype=np.float32)),
               lambda ag, t, j, threshold=0.05: s04.relabel(ag, t, np.asarray(j) - 1 + (np.asarray(j) == 0), threshold)],
    "ch05.1": [_NoClip, lambda env, sigma, seed=0: s05.ActionNoise(env, sigma, None)],
    "ch05.2": [lambda a, na, b, nb, z=1.96: (a / na - b / nb - 0.1, a / na - b / nb + 0.1),
               lambda a, na, b, nb, z=1.96: (a / na - b / nb - math.hypot(*(_wald(a, na)[0] - a / na, _wald(b, nb)[1] - b / nb)),
                                             a / na - b / nb + 0.05)],
    "ch06.1": [lambda x: float(np.mean(x)), lambda x: float(np.median(x))],
    "ch06.2": [lambda x, f, reps, seed, confidence=0.95: (float(f(x)) - 0.01, float(f(x)) + 0.01),
               lambda x, f, reps, seed, confidence=0.95: s06.bootstrap_interval(x, f, reps, seed + 1, confidence)
               if reps > 1000 else (0.0, 0.1)],
    "ch06.3": [lambda x, y: float(np.mean(np.asarray(x)[:, None] > np.asarray(y)[None, :])),
               lambda x, y: float(np.mean(x) > np.mean(y))],
    "ch07.1": [lambda e: len(e) ** 2 * float(np.mean(e)), lambda e: float(np.sum(e))],
    "ch07.2": [lambda qd, qp: qd.mean(0) > qp.mean(0), lambda qd, qp: qd[0] > qp[0], lambda qd, qp: qd.min(0).values >= qp.min(0).values],
    "ch07.3": [lambda pa, da, m: ((pa - da) ** 2).sum(-1)[m].mean(), lambda pa, da, m: ((pa - da) ** 2).sum(-1).mean()],
}


def test_every_chapter_has_a_problem_set_of_three_to_six_mixing_the_kinds():
    for chapter in CHAPTERS:
        found = problems(chapter)
        assert 3 <= len(found) <= 6, chapter
        assert [p.number for p in found] == list(range(1, len(found) + 1))
        assert {"implementation", "diagnosis"} <= {p.kind for p in found} or {"derivation", "diagnosis"} <= {
            p.kind for p in found}, chapter
    assert {"derivation", "implementation", "diagnosis"} == {p.kind for p in ALL}
    assert sum(p.kind == "diagnosis" for p in ALL) == len(CHAPTERS), "one planted bug per chapter"


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.label)
def test_the_reference_solution_passes(problem):
    module = load_module(solution_path(problem.chapter))
    outcome = run_check(problem, getattr(module, problem.function), "solution")
    assert outcome.passed, outcome.message


@pytest.mark.parametrize("problem", ALL, ids=lambda p: p.label)
def test_the_untouched_stub_fails_clearly(problem):
    module = load_module(stub_path(problem.chapter))
    outcome = run_check(problem, getattr(module, problem.function), "ch.py")
    assert not outcome.passed
    if problem.kind == "diagnosis":  # the planted bug is caught, and the reader is shown a symptom
        assert outcome.message.startswith("hint: symptom:"), outcome.message
    else:
        assert "not attempted yet" in outcome.message and problem.function in outcome.message


@pytest.mark.parametrize("label", sorted(MUTANTS))
def test_wrong_answers_are_caught(label):
    problem = next(p for p in ALL if p.label == label)
    for i, mutant in enumerate(MUTANTS[label]):
        outcome = run_check(problem, mutant, "mutant")
        assert not outcome.passed, f"mutant {i} of {label} passed"
        assert outcome.message.startswith(("hint:", f"{problem.function} raised")), outcome.message


def test_every_problem_that_is_not_a_planted_bug_has_mutants():
    assert {p.label for p in ALL if p.kind != "diagnosis"} == set(MUTANTS)


def test_stubs_and_solutions_define_the_same_functions():
    for chapter in CHAPTERS:
        for path in (stub_path(chapter), solution_path(chapter)):
            names = {node.name for node in ast.parse(path.read_text()).body
                     if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")}
            assert {p.function for p in problems(chapter)} == names, path


def test_the_checker_creates_the_stub_once_and_never_overwrites_the_readers_file(tmp_path, cli):
    first = cli("check", "ch04", "--folder", str(tmp_path))
    assert first.returncode == 1
    assert "just created from the stub" in first.stdout and "0 of 4 problems pass" in first.stdout
    mine = tmp_path / "ch04.py"
    assert mine.read_text() == stub_path("ch04").read_text()
    shutil.copyfile(solution_path("ch04"), mine)
    second = cli("check", "ch04", "--folder", str(tmp_path))
    assert second.returncode == 0, second.stdout
    assert "just created" not in second.stdout and "4 of 4 problems pass" in second.stdout
    assert mine.read_text() == solution_path("ch04").read_text()


def test_a_partly_solved_file_is_graded_per_problem(tmp_path):
    text = stub_path("ch04").read_text().replace(
        'substitutes."""\n    raise NotImplementedError', 'substitutes."""\n    return k / (k + 1)')
    (tmp_path / "ch04.py").write_text(text)
    report = check("ch04", folder=tmp_path)
    assert [o.passed for o in report.outcomes] == [True, False, False, False], report.text()


def test_bad_input_is_one_clear_line(tmp_path, cli):
    unknown = cli("check", "ch42")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "ch00, ch01" in unknown.stderr
    (tmp_path / "ch02.py").write_text("def gae(:\n")
    broken = cli("check", "ch02", "--folder", str(tmp_path))
    assert broken.returncode == 2 and "does not import: SyntaxError" in broken.stderr
    (tmp_path / "ch03.py").write_text("def soft_value(q, alpha):\n    return 1 / 0\n")
    raising = check("ch03", folder=tmp_path)
    assert "soft_value raised ZeroDivisionError" in raising.outcomes[0].message
    assert "defines no function tanh_gaussian_log_prob" in raising.outcomes[1].message


def test_the_reference_flag_checks_the_courses_solutions(cli):
    done = cli("check", "--reference", "ch00", "ch07")
    assert done.returncode == 0 and "3 of 3 problems pass" in done.stdout and "4 of 4 problems pass" in done.stdout


@pytest.mark.parametrize("chapter", discover(Layout()), ids=lambda c: c.chapter_id)
def test_each_chapter_ends_with_its_problem_set_and_its_check(chapter):
    notebook = jupytext.read(chapter.source)
    headings = [line for c in notebook.cells if c.cell_type == "markdown" for line in c.source.splitlines()
                if line.startswith("## ")]
    assert "Problems" in headings[-1], headings[-1]
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for problem in problems(chapter.chapter_id):
        assert f"**Problem {int(chapter.chapter_id[2:])}.{problem.number} ({problem.kind})" in text, problem.label
        assert f"`{problem.function}(" in text or f"`{problem.function}`" in text, (problem.label, "the statement names the function to write")
    assert text.count("{dropdown}") >= len(problems(chapter.chapter_id)), "a worked solution per problem"
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert f'check("{chapter.chapter_id}")' in code[-1], "the last cell checks the reader's file"
