"""``gcrl``: run chapters, build the book, verify deliverables.

Every expected failure (unknown chapter or profile, unwritable results folder,
no rendering backend, a failing cell, deliverables out of range) ends with one
line on stderr naming the fix and a non-zero exit code, not a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gcrl.core.errors import CourseError, VerificationFailed
from gcrl.core.paths import REPO_ROOT, Layout
from gcrl.course.profiles import DEFAULT_PROFILE, PROFILE_ENV, PROFILES, resolve_profile
from gcrl.course.runner import DEFAULT_SEED, run_chapter, select, write_parameterised
from gcrl.rl.recipes import ALGORITHMS


def _add_profile(parser: argparse.ArgumentParser) -> None:
    """``--profile``, resolved once, here: the option, else ``$GCRL_PROFILE``, else the default."""
    parser.add_argument("--profile", default="", help=f"one of {', '.join(PROFILES)} "
                                                     f"(default: ${PROFILE_ENV} or {DEFAULT_PROFILE})")


def _add_common(parser: argparse.ArgumentParser) -> None:
    _add_profile(parser)
    parser.add_argument("--results", help="results folder (default: $GCRL_RESULTS or results/)")


def _layout(args: argparse.Namespace) -> Layout:
    return Layout.default(results=args.results, notebooks=getattr(args, "notebooks", None))


def _run(args: argparse.Namespace) -> list:
    from gcrl.rl.envs import configure_rendering

    profile = args.profile
    layout = _layout(args)
    chapters = select(layout, args.chapters)
    backend = configure_rendering()
    print(f"gcrl: profile {profile}, seed {args.seed}, rendering {backend}, results {layout.results / profile}")
    runs = []
    for chapter in chapters:
        print(f"gcrl: {chapter.stem} ...", flush=True)
        run = run_chapter(chapter, layout, profile, seed=args.seed, force=args.force)
        status = f"executed in {run.wall_time_s:.1f} s" if run.executed else "unchanged, reused"
        print(f"gcrl: {chapter.stem} {status} -> {run.notebook}")
        runs.append(run)
    return runs


def cmd_list(args: argparse.Namespace) -> int:
    for chapter in select(_layout(args), None):
        source = chapter.source
        print(f"{chapter.chapter_id}  {source.relative_to(REPO_ROOT) if source.is_relative_to(REPO_ROOT) else source}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    _run(args)
    return 0


def cmd_book(args: argparse.Namespace) -> int:
    from gcrl.course.book import build_html, stage

    args.chapters = None
    runs = _run(args)
    stage(REPO_ROOT, runs)
    index = build_html(REPO_ROOT, Path(args.output) if args.output else None)
    print(f"gcrl: book built with profile {args.profile}; open file://{index}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from gcrl.course.deliverables import verify

    profile = args.profile
    layout = _layout(args)
    findings = verify(layout.results, profile, args.chapters or None)
    for finding in findings:
        print(finding.line())
    failed = [f for f in findings if not f.ok]
    if failed:
        raise VerificationFailed(
            f"{len(failed)} of {len(findings)} deliverables fail under {layout.results / profile}; "
            f"run `make chapters GCRL_PROFILE={profile}` (or `gcrl run --profile {profile}`) to produce them"
        )
    print(f"gcrl: all {len(findings)} deliverables of profile {profile} verified")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write each chapter as the .ipynb papermill would execute under the profile (for nbval, which collects
    only notebooks): the same injected parameters, so nbval's execution is the runner's, and the test suite
    can record it as one (``gcrl.course.runner.record_run``)."""
    target = Path(args.folder)
    target.mkdir(parents=True, exist_ok=True)
    layout = _layout(args)
    for chapter in select(layout, None):
        print(write_parameterised(chapter, layout, args.profile, args.seed, target / f"{chapter.stem}.ipynb"))
    return 0


def setting_value(text: str) -> Any:
    """The value of ``--set KEY=VALUE``: JSON where the text is JSON, else YAML.

    JSON first, because a program that writes a setting with ``json.dumps`` must get it back: YAML 1.1 reads
    ``5e-05`` (no dot) as a string. Bare words (``inline``, ``yes``) are not JSON and keep their YAML meaning.
    """
    import yaml

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return yaml.safe_load(text)


def cmd_train(args: argparse.Namespace) -> int:
    """Train one recipe (``hyperparams/<algo>.yml``) with any overrides; rerunning it resumes from its checkpoint."""
    from gcrl.rl.envs import configure_rendering
    from gcrl.rl.learners import BOOK, make_config, train

    configure_rendering()
    overrides = {key: value for key, value in {
        "total_steps": args.steps, "seed": args.seed, "n_envs": args.n_envs, "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes, "checkpoint_every": args.checkpoint_every,
        "target_success": args.target_success, "progress_bar": args.progress_bar, "device": args.device,
    }.items() if value is not None}
    for setting in args.set or []:
        key, equals, value = setting.partition("=")
        if not equals or not key:
            raise CourseError(f"--set takes KEY=VALUE (a recipe's key and a YAML value), got {setting!r}")
        overrides[key] = setting_value(value)
    if args.device is not None and args.algo != BOOK:
        raise CourseError(f"--device applies to the book's {BOOK}; Stable-Baselines3's {args.algo} picks its own")
    if args.no_her:
        overrides["n_sampled_goal" if args.algo == BOOK else "her"] = 0 if args.algo == BOOK else None
    config = make_config(args.algo, args.env, **overrides)
    result = train(config, Path(args.run_dir))
    final = result.metrics["final"]
    print(f"gcrl: {config.algo} on {config.env_id}: {result.metrics['env_steps']} env steps, "
          f"success {final['success_rate']:.1%} [{final['ci95_low']:.1%}, {final['ci95_high']:.1%}] "
          f"on {final['episodes']} episodes -> {Path(args.run_dir) / 'metrics.json'}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a sweep on Ray (embedded, or the cluster at --address) and print each configuration's IQM.

    The sweep is a file, or a chapter's sweep under the profile (``--chapter ch06``); ``--print`` writes
    it out as a sweep file instead of running it.
    """
    import yaml

    from gcrl.analysis.stability import interval_estimates, score_matrices
    from gcrl.analysis.sweep import SweepSpec, run_sweep
    from gcrl.core.provenance import RunRecord
    from gcrl.course import profiles
    from gcrl.rl.envs import configure_rendering

    if bool(args.file) == bool(args.chapter):
        raise CourseError("name a sweep file or --chapter ch06, not both and not neither")
    spec = SweepSpec.from_file(args.file) if args.file else SweepSpec.from_dict(
        profiles.budget("ch06", args.profile).sweep, where=f"the ch06 sweep of profile {args.profile}")
    if args.print:
        print(yaml.safe_dump(spec.as_dict(), sort_keys=False), end="")
        return 0
    if not args.runs:
        raise CourseError("--runs DIR is required to run a sweep (the folder of its trials' run folders)")
    configure_rendering()
    outcome = run_sweep(spec, Path(args.runs), RunRecord(profile=args.profile, seeds=list(spec.seeds)),
                        address=args.address)
    print(f"gcrl: sweep {spec.name}: {len(outcome.trained)} trials trained, {len(outcome.reused)} read back "
          f"({outcome.backend}); runs in {args.runs}")
    for group in dict.fromkeys(t.group for t in outcome.trials):
        for label, per_task in outcome.group(group).items():
            for env_id, results in per_task.items():
                iqm = interval_estimates(score_matrices({label: {env_id: results}})[1])[label]["IQM"]
                print(f"  {group:<14} {label:<24} {env_id:<22} IQM final success {iqm['estimate']:.2f} "
                      f"[{iqm['ci95'][0]:.2f}, {iqm['ci95'][1]:.2f}] over {len(results)} seeds")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Time to threshold on FetchReach (the book's SAC+HER against the peer recipe), or, with ``--push``, success
    on FetchPush within a fixed wall clock (the book's Push recipe against the zoo's TQC+HER); same machine."""
    out = Path(args.out)
    if args.push:
        from gcrl.analysis.bench_push import PushBenchConfig, report, run_push_bench

        record = run_push_bench(out, PushBenchConfig(budget_s=60 * args.budget_min))
        print(report(record))
        print(f"gcrl: record written to {out / 'bench_FetchPush-v4.json'}, figure beside it")
        return 0
    from gcrl.analysis.bench import BenchConfig, report, run_bench

    bench = BenchConfig(seeds=args.seeds, max_env_steps=args.max_steps)
    print(f"gcrl: benchmark, {bench.seeds} seed(s) per recipe, one run at a time -> {out}", flush=True)
    print(report(run_bench(out, bench)))
    print(f"gcrl: record written to {out / f'bench_{bench.env_id}.json'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Each chapter's problems against the reader's file (``exercises/chNN.py``, created from the stub once)."""
    from gcrl.exercises import CHAPTERS, check

    chapters = args.chapters or list(CHAPTERS)
    reports = [check(chapter, folder=args.folder, reference=args.reference) for chapter in chapters]
    for report in reports:
        print(report.text(), flush=True)
    if len(reports) > 1:
        passed = sum(r.passed for r in reports)
        print(f"gcrl: {passed} of {sum(len(r.outcomes) for r in reports)} problems pass in {len(reports)} chapters")
    return 0 if all(r.all_passed for r in reports) else 1


def cmd_timings(args: argparse.Namespace) -> int:
    """The last measured run of the book under a profile, per chapter; optionally recorded as the reference."""
    from gcrl.course.runner import timing_summary, write_reference_timings

    profile = args.profile
    layout = _layout(args)
    if args.write_reference:
        print(f"gcrl: reference written to {write_reference_timings(layout, profile)}")
    summary = timing_summary(layout, profile)
    if summary is None:
        raise CourseError(f"no {profile} run is recorded here or in book/reference/; run `make book` first")
    print(f"gcrl: {profile} run ({summary['source']}): {summary['total_s'] / 60:.1f} min in all")
    for chapter, seconds in summary["chapters"].items():
        print(f"  {chapter}  {seconds / 60:6.1f} min")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcrl",
        description="Run the course's chapters headless, build the book, verify deliverables.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    listing = sub.add_parser("list", help="list the chapters")
    listing.add_argument("--notebooks", help="folder of chapter sources (default: notebooks/)")
    listing.set_defaults(func=cmd_list, results=None)

    run = sub.add_parser("run", help="execute chapters (only those whose inputs changed)")
    run.add_argument("chapters", nargs="*", help="chapter ids (ch00) or names; default: all")
    _add_common(run)
    run.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"master seed (default {DEFAULT_SEED})")
    run.add_argument("--force", action="store_true", help="execute even if the inputs are unchanged")
    run.add_argument("--notebooks", help="folder of chapter sources (default: notebooks/)")
    run.set_defaults(func=cmd_run)

    book = sub.add_parser("book", help="execute every chapter, then build _build/html with warnings as errors")
    _add_common(book)
    book.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"master seed (default {DEFAULT_SEED})")
    book.add_argument("--force", action="store_true", help="execute even if the inputs are unchanged")
    book.add_argument("--output", help="build into OUTPUT/_build/html (default: _build/html)")
    book.add_argument("--notebooks", help="folder of chapter sources (default: notebooks/)")
    book.set_defaults(func=cmd_book)

    verify = sub.add_parser("verify", help="check results/<profile>/ against the deliverable declarations")
    verify.add_argument("chapters", nargs="*", help="chapter ids; default: every declared chapter")
    _add_common(verify)
    verify.set_defaults(func=cmd_verify)

    training = sub.add_parser("train", help="train one algorithm on one environment (resumes if interrupted)")
    training.add_argument("--algo", required=True, choices=ALGORITHMS,
                          help="sac+her (the book's SAC+HER), or ppo, sac, td3, tqc (Stable-Baselines3)")
    training.add_argument("--env", required=True, help="a Fetch v4 id, e.g. FetchReach-v4")
    training.add_argument("--steps", type=int, required=True, help="total env steps")
    training.add_argument("--run-dir", required=True, help="folder for checkpoints, curves and metrics.json")
    training.add_argument("--seed", type=int)
    training.add_argument("--n-envs", type=int)
    training.add_argument("--eval-every", type=int, help="env steps between evaluations")
    training.add_argument("--eval-episodes", type=int)
    training.add_argument("--checkpoint-every", type=int, help="env steps between checkpoints")
    training.add_argument("--target-success", type=float, help="stop once the evaluated success rate reaches this")
    training.add_argument("--no-her", action="store_true", help="train without hindsight relabelling")
    training.add_argument("--device", help="sac+her only: auto (CUDA where torch finds it), cpu or cuda")
    training.add_argument("--set", action="append", metavar="KEY=VALUE",
                          help="override one recipe setting, e.g. --set n_envs=4 (repeatable)")
    training.add_argument("--progress-bar", action="store_true", default=None)
    training.set_defaults(func=cmd_train, results=None)

    bench = sub.add_parser("bench", help="time to 95%% success on FetchReach: the book's SAC+HER vs the peer recipe")
    bench.add_argument("--seeds", type=int, default=3, help="seeds per recipe (default 3)")
    bench.add_argument("--max-steps", type=int, default=10_000, help="give up on a run after this many env steps")
    bench.add_argument("--push", action="store_true",
                       help="FetchPush: the book's recipe against the zoo's TQC+HER, a fixed wall clock each")
    bench.add_argument("--budget-min", type=float, default=25.0, help="with --push: minutes per recipe (default 25)")
    bench.add_argument("--out", default="_build/bench", help="folder for the record and the runs (default _build/bench)")
    bench.set_defaults(func=cmd_bench, results=None)

    sweeping = sub.add_parser("sweep", help="run a sweep on Ray, resuming complete and interrupted trials")
    sweeping.add_argument("file", nargs="?", help="a sweep file (YAML)")
    sweeping.add_argument("--chapter", choices=["ch06"], help="the chapter's sweep under --profile, instead of a file")
    sweeping.add_argument("--print", action="store_true", help="write the sweep out as a sweep file; run nothing")
    sweeping.add_argument("--runs", help="folder of the trials' run folders")
    sweeping.add_argument("--address", default=None,
                          help="an existing Ray cluster (default: $GCRL_RAY_ADDRESS, else Ray embedded here)")
    _add_profile(sweeping)
    sweeping.set_defaults(func=cmd_sweep, results=None)

    checking = sub.add_parser("check", help="check your solutions to the chapters' problem sets (exercises/chNN.py)")
    checking.add_argument("chapters", nargs="*", help="chapter ids (ch04); default: every chapter")
    checking.add_argument("--folder", help="your exercises folder (default: $GCRL_EXERCISES or exercises/)")
    checking.add_argument("--reference", action="store_true", help="check the course's reference solutions instead")
    checking.set_defaults(func=cmd_check, results=None)

    timings = sub.add_parser("timings", help="how long each chapter took in the last recorded run of a profile")
    _add_common(timings)
    timings.add_argument("--write-reference", action="store_true",
                         help="record this machine's complete run as book/reference/<profile>_run.json")
    timings.set_defaults(func=cmd_timings)

    export = sub.add_parser("export-notebooks", help="write the chapters as .ipynb into FOLDER, parameters injected")
    export.add_argument("folder")
    _add_common(export)
    export.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"master seed (default {DEFAULT_SEED})")
    export.add_argument("--notebooks", help="folder of chapter sources (default: notebooks/)")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if hasattr(args, "profile"):
            args.profile = resolve_profile(args.profile)
        return args.func(args)
    except CourseError as exc:
        print(f"gcrl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gcrl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
