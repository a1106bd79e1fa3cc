"""Every citation resolves; an undefined one fails the build."""

from __future__ import annotations

import re

import pytest

from gcrl.course.book import build_html
from gcrl.core.errors import CourseError

CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
REQUIRED = {
    "andrychowicz2017her", "plappert2018multigoal", "haarnoja2018sac", "haarnoja2018sacapps",
    "schulman2017ppo", "schulman2016gae", "fujimoto2018td3", "kuznetsov2020tqc", "raffin2021sb3",
    "todorov2012mujoco", "agarwal2021rliable", "sutton2018rl",
}


def bib_keys(repo_root) -> set[str]:
    return set(re.findall(r"^@\w+\{([^,]+),", (repo_root / "book" / "references.bib").read_text(), re.M))


def cited_keys(repo_root) -> set[str]:
    sources = list((repo_root / "book").glob("*.md")) + list((repo_root / "notebooks").glob("*.py"))
    keys = set()
    for source in sources:
        for group in CITE.findall(source.read_text()):
            keys.update(k.strip() for k in group.split(","))
    return keys


def test_every_cited_key_is_in_the_bibliography(repo_root):
    assert cited_keys(repo_root) <= bib_keys(repo_root), cited_keys(repo_root) - bib_keys(repo_root)


def test_the_course_cites_its_foundations(repo_root):
    assert REQUIRED <= bib_keys(repo_root)
    assert REQUIRED <= cited_keys(repo_root), REQUIRED - cited_keys(repo_root)


def test_an_undefined_citation_fails_the_build(planted_book):
    root = planted_book("# Planted\n\nAs shown by {cite:p}`nobody2099imaginary`.\n",
                        {"refs": "# References\n\n```{bibliography}\n```\n"})
    with pytest.raises(CourseError) as failure:
        build_html(root)
    assert "nobody2099imaginary" in str(failure.value)
