"""Checking a results folder against the chapters' deliverable declarations.

The declarations live in ``deliverables.yaml`` beside this module. A chapter
writes its JSON deliverables through :func:`write_deliverable`, which attaches
provenance and writes atomically; ``gcrl verify`` then checks every declared
file: present, well-formed, valid against its schema, metrics in range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from gcrl.core.errors import CourseError, VerificationFailed
from gcrl.core.io import write_json_atomic
from gcrl.core.provenance import PROVENANCE_SCHEMA, RunRecord
from gcrl.course.profiles import PROFILES

DECLARATIONS_FILE = Path(__file__).with_name("deliverables.yaml")
KINDS = ("json", "image", "video", "file")


@cache
def declarations() -> dict[str, Any]:
    """The parsed declarations, checked for shape (an error names the bad entry)."""
    decl = yaml.safe_load(DECLARATIONS_FILE.read_text())
    for chapter, block in decl.items():
        unknown_dependencies = set(block.get("depends_on", [])) - set(decl)
        if unknown_dependencies:
            raise CourseError(f"{DECLARATIONS_FILE.name}: {chapter} depends on undeclared {sorted(unknown_dependencies)}")
        for name, spec in block.get("files", {}).items():
            where = f"{DECLARATIONS_FILE.name}: {chapter}/{name}"
            if spec.get("kind") not in KINDS:
                raise CourseError(f"{where}: kind must be one of {', '.join(KINDS)}")
            for pointer, ranges in (spec.get("metrics") or {}).items():
                unknown = set(ranges) - set(PROFILES) - {"all", "domain"}
                if unknown or not pointer.startswith("/"):
                    raise CourseError(f"{where}: metric {pointer!r} needs a /json/pointer and profiles from {PROFILES}")
                check_ranges(f"{where}: metric {pointer}", ranges)
    return decl


def check_ranges(where: str, ranges: dict[str, Any]) -> None:
    """Every range lies inside the metric's declared ``domain`` and leaves part of it out.

    The domain is the set of values the metric can take at all (a rate lies in
    [0, 1], a difference of rates in [-1, 1], a count in [0, null]); a range
    that covers the whole domain states no claim, because no result can fail it.
    """
    if "domain" not in ranges:
        raise CourseError(f"{where}: declare its domain, the values it can take at all (e.g. domain: [0, 1])")
    domain_low, domain_high = ranges["domain"]
    for profile, (low, high) in ((p, r) for p, r in ranges.items() if p != "domain"):
        outside = ((low is not None and domain_low is not None and low < domain_low)
                   or (high is not None and domain_high is not None and high > domain_high))
        if outside:
            raise CourseError(f"{where}: the {profile} range [{low}, {high}] reaches outside its domain "
                              f"[{domain_low}, {domain_high}]")
        can_fail = ((low is not None and (domain_low is None or low > domain_low))
                    or (high is not None and (domain_high is None or high < domain_high)))
        if not can_fail:
            raise CourseError(f"{where}: the {profile} range [{low}, {high}] covers its whole domain "
                              f"[{domain_low}, {domain_high}], so no result can fail it; state the chapter's claim")


def write_deliverable(folder: Path, name: str, payload: dict[str, Any], run: RunRecord) -> Path:
    """Write a JSON deliverable with its provenance, atomically."""
    return write_json_atomic(Path(folder) / name, {**payload, "provenance": run.snapshot()})


@dataclass(frozen=True)
class Finding:
    chapter: str
    file: str
    ok: bool
    message: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.chapter}/{self.file}: {self.message}"


class Upstream:
    """The deliverables a chapter reads from the chapters it builds on, and only from those.

    A chapter declares the chapters whose results it reads (``depends_on`` in
    the declarations), and the runner re-executes it when their inputs change.
    Reading through this accessor keeps the declaration true: a read from an
    undeclared chapter is an error, and a missing file names the chapter to run.
    """

    def __init__(self, results: Path, profile: str, reader: str):
        self.results, self.profile, self.reader = Path(results), profile, reader

    def path(self, chapter: str, name: str) -> Path:
        declared = declarations().get(self.reader, {}).get("depends_on", [])
        if chapter not in declared:
            raise CourseError(f"{self.reader} reads {chapter}'s {name} but does not declare depends_on: {chapter} "
                              f"in {DECLARATIONS_FILE.name} (it declares {declared or 'none'})")
        return self.results / self.profile / chapter / name

    def read(self, chapter: str, name: str) -> dict[str, Any]:
        """Another chapter's JSON deliverable; a missing one names the chapter to run."""
        path = self.path(chapter, name)
        if not path.is_file():
            raise CourseError(f"{self.reader} reads {chapter}'s {name}, and {path} is missing; run chapter {chapter} first")
        return json.loads(path.read_text())

    def folder(self, chapter: str) -> Path:
        """Another chapter's results folder (for its checkpoints), checked like a read."""
        return self.path(chapter, "")


def resolve_pointer(document: Any, pointer: str) -> Any:
    """Follow a JSON pointer (RFC 6901); raise KeyError naming the missing step."""
    node = document
    for raw in pointer.lstrip("/").split("/"):
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(step)]
        elif isinstance(node, dict) and step in node:
            node = node[step]
        else:
            raise KeyError(f"{pointer} (no {step!r})")
    return node


def range_for(ranges: dict[str, Any], profile: str) -> tuple[float | None, float | None] | None:
    """The range a metric must meet under ``profile`` (its own, else ``all``); ``None`` if it has none."""
    bounds = ranges.get(profile, ranges.get("all"))
    return None if bounds is None else (bounds[0], bounds[1])


def declared_range(chapter: str, file: str, pointer: str, profile: str) -> tuple[float | None, float | None]:
    """The range ``deliverables.yaml`` declares for metric ``pointer`` of ``chapter``'s ``file`` under ``profile``.

    A chapter whose code needs the number of one of its claims (a target it states, a margin it tests) reads it
    here, so that the declaration stays the only place that says it. ``profile`` may be ``all``.
    """
    metrics = declarations().get(chapter, {}).get("files", {}).get(file, {}).get("metrics") or {}
    bounds = range_for(metrics[pointer], profile) if pointer in metrics else None
    if bounds is None:
        raise CourseError(f"{DECLARATIONS_FILE.name} declares no {profile} range for {chapter}/{file} {pointer}")
    return bounds


def metric_problems(document: Any, spec: dict[str, Any], profile: str) -> list[str]:
    """The declared metrics of one JSON deliverable that are missing, not numbers, or out of their range."""
    problems = []
    for pointer, ranges in (spec.get("metrics") or {}).items():
        bounds = range_for(ranges, profile)
        if bounds is None:
            continue
        try:
            value = resolve_pointer(document, pointer)
        except (KeyError, IndexError, ValueError) as exc:
            problems.append(f"metric missing: {exc}")
            continue
        low, high = bounds
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"metric {pointer} = {value!r} is not a number")
        elif (low is not None and value < low) or (high is not None and value > high):
            problems.append(f"metric {pointer} = {value} out of range [{low}, {high}]")
    return problems


def _check_json(path: Path, spec: dict[str, Any], profile: str) -> list[str]:
    from jsonschema import Draft202012Validator

    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return [f"not valid JSON ({exc})"]
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "allOf": [
            spec.get("schema", {}),
            {"type": "object", "required": ["provenance"], "properties": {"provenance": PROVENANCE_SCHEMA}},
        ],
    }
    problems = [
        f"schema: {'/'.join(map(str, err.absolute_path)) or '(root)'}: {err.message}"
        for err in Draft202012Validator(schema).iter_errors(document)
    ]
    provenance_profile = document.get("provenance", {}).get("profile") if isinstance(document, dict) else None
    if provenance_profile not in (None, profile):
        problems.append(f"produced by profile {provenance_profile!r}, checked as {profile!r}")
    return problems + metric_problems(document, spec, profile)


def _check_image(path: Path, spec: dict[str, Any]) -> list[str]:
    import imageio.v3 as iio
    import numpy as np

    try:
        image = iio.imread(path)
    except Exception as exc:  # imageio raises many types for a corrupt file
        return [f"not a readable image ({exc})"]
    height, width = image.shape[:2]
    problems = []
    if width < spec.get("min_width", 1) or height < spec.get("min_height", 1):
        problems.append(f"{width}x{height} is smaller than {spec.get('min_width')}x{spec.get('min_height')}")
    if float(np.asarray(image, dtype=float).std()) < 1.0:
        problems.append("image is blank (no variation)")
    return problems


def _check_video(path: Path, spec: dict[str, Any]) -> list[str]:
    import imageio.v2 as imageio

    try:
        with imageio.get_reader(path, format="FFMPEG") as reader:
            frames = reader.count_frames()
            width, height = reader.get_meta_data()["size"]
    except Exception as exc:  # ffmpeg reports a damaged file through several exception types
        return [f"not a readable video ({exc})"]
    problems = []
    if width < spec.get("min_width", 1) or height < spec.get("min_height", 1):
        problems.append(f"{width}x{height} is smaller than {spec.get('min_width')}x{spec.get('min_height')}")
    if frames < spec.get("min_frames", 1):
        problems.append(f"{frames} frames, expected at least {spec['min_frames']}")
    return problems


def verify_chapter(results: Path, profile: str, chapter: str) -> list[Finding]:
    """Check one chapter's folder ``results/<profile>/<chapter>``."""
    spec = declarations().get(chapter)
    if spec is None:
        raise CourseError(f"no deliverables declared for {chapter!r} in {DECLARATIONS_FILE.name}")
    folder = Path(results) / profile / chapter
    return [check_file(folder, chapter, name, file_spec, profile) for name, file_spec in spec.get("files", {}).items()]


def check_file(folder: Path, chapter: str, name: str, spec: dict[str, Any], profile: str) -> Finding:
    """Check one declared file of ``chapter`` in ``folder`` against its declaration ``spec``."""
    path = Path(folder) / name
    if not path.is_file():
        return Finding(chapter, name, False, f"missing (expected at {path})")
    kind = spec["kind"]
    if kind == "json":
        problems = _check_json(path, spec, profile)
    elif kind == "image":
        problems = _check_image(path, spec)
    elif kind == "video":
        problems = _check_video(path, spec)
    else:
        size = path.stat().st_size
        minimum = spec.get("min_bytes", 1)
        problems = [] if size >= minimum else [f"{size} bytes, expected at least {minimum}"]
    return Finding(chapter, name, not problems, "; ".join(problems) or f"{kind} valid")


def verify(results: Path, profile: str, chapters: list[str] | None = None) -> list[Finding]:
    """Check every declared chapter (or those named) under ``results/<profile>/``."""
    findings = []
    for chapter in chapters or list(declarations()):
        findings.extend(verify_chapter(results, profile, chapter))
    return findings


def verified_table(results: Path, profile: str, chapter: str):
    """Verify one chapter's deliverables, as the last cell of every chapter does.

    Raises :class:`VerificationFailed` naming each failing file, so the chapter
    cannot finish with wrong deliverables; otherwise returns the findings as a table.
    """
    import pandas as pd

    findings = verify_chapter(results, profile, chapter)
    failed = [f.line() for f in findings if not f.ok]
    if failed:
        raise VerificationFailed(f"{chapter} deliverables fail under profile {profile}: " + "; ".join(failed))
    return pd.DataFrame([(f.file, "ok", f.message) for f in findings],
                        columns=["file", "status", "check"]).set_index("file")
