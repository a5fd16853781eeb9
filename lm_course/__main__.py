"""Command line: ``python -m lm_course <command>`` (or ``lm-course <command>``).

Commands:
    info        print the environment report (versions, device)
    corpus      build, verify and cache the corpus splits
    download    cache GPT-2 weights for offline use (e.g. ``download gpt2``)
    make-reference NAME  (gpt, gpt-small, mlp or lstm: lm_course.reference.SHIPPED)
                re-make a shipped model in lm_course/shipped_data/ from its recipe (an hour or
                more each; the file records how it was made and its scores)
    slides      check the notebooks' slide metadata (the default), rewrite it
                (--write), or export offline HTML decks (--export DIR)
    classroom   prepare and check this machine for a class (ready / not ready)
    workspace [DIR]
                copy the chapters into a folder of your own (default
                ~/lm-course-work); your copies are never overwritten
    release OUT [--no-solutions]
                write the student edition for homework (exercise outputs
                cleared; with --no-solutions the hidden solutions removed)
    grade SUBMISSIONS... [--out DIR]
                run each submitted notebook offline with time limits and
                write a gradebook from the course's checkers (not a sandbox:
                see lm_course.grading)

A mistake of the user's (a missing file, an unwritable folder, a damaged
cache) is reported in one line, ``lm_course <command>: error: ...``, with exit
status 2, never with a traceback (``LM_COURSE_DEBUG=1`` shows it); Ctrl-C
exits with status 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lm_course.data import SPLITS, load_shakespeare
from lm_course.env import environment_report



def _info(args: argparse.Namespace) -> int:
    environment_report()
    return 0


def _corpus(args: argparse.Namespace) -> int:
    for split in SPLITS:
        text = load_shakespeare(split)
        print(f"{split:>5}: {len(text):>9,} characters, sha256 verified")
    return 0


def _download(args: argparse.Namespace) -> int:
    from lm_course.gpt2_weights import GPT2WeightsUnavailable, download

    for name in args.names:
        try:
            print(f"{name}: cached in {download(name)}")
        except (GPT2WeightsUnavailable, ValueError) as err:
            print(f"{name or repr(name)}: {err}", file=sys.stderr)
            return 1  # the hub cannot be reached (or no such model): status 1, as before
    return 0


def _make_reference(args: argparse.Namespace) -> int:
    """One command for the shipped models: ``lm_course.reference.SHIPPED[kind]``
    (an unknown name is refused there, naming the table's; the parser itself
    does not import torch, so ``--help`` stays fast)."""
    from lm_course.reference import make_reference

    path, record = make_reference(args.kind, args.out, state_path=args.state)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(f"val {record['val_bpc']:.4f} / test {record['test_bpc']:.4f} bits per character")
    return 0


def _slides(args: argparse.Namespace) -> int:
    import nbformat

    from lm_course import slides

    notebooks = args.notebooks or sorted((Path(__file__).resolve().parent.parent / "notebooks")
                                         .glob("[0-9][0-9]_*.ipynb"))
    for path in notebooks:
        if not path.is_file():
            raise UserError(f"no notebook {path}" + (" (it is a folder)" if path.is_dir() else ""))
        try:
            nbformat.read(path, as_version=4)
        except Exception as err:  # not JSON, not a notebook
            raise UserError(f"{path} is not a readable notebook: {str(err).splitlines()[0][:160]}") from None
    if args.export is not None and args.export.exists() and not args.export.is_dir():
        raise UserError(f"--export {args.export} is a file; give a folder to write the decks in")
    if args.write:
        for path in notebooks:
            print(f"{path.name}: {'updated' if slides.write_slide_metadata(path) else 'unchanged'}")
    if args.export is not None:
        for deck in slides.export_decks(notebooks, args.export):
            print(f"wrote {deck}")
    problems = {p.name: slides.check_slides(nbformat.read(p, as_version=4)) for p in notebooks}
    for name, found in problems.items():
        for problem in found:
            print(f"{name}: {problem}", file=sys.stderr)
    return 1 if any(problems.values()) else 0


def _classroom(args: argparse.Namespace) -> int:
    from lm_course.classroom import main as classroom

    return classroom(download=not args.no_download)


def _workspace(args: argparse.Namespace) -> int:
    from lm_course.workspace import DEFAULT_WORKSPACE, make_workspace

    dest = (args.dir or DEFAULT_WORKSPACE).expanduser()
    copied, kept = make_workspace(dest)
    for path in copied:
        print(f"copied {path.name}")
    if kept:
        print(f"kept your own {len(kept)} chapter(s) already there (never overwritten)")
    make = "make lab" if dest == DEFAULT_WORKSPACE.expanduser() else f"make lab WORKSPACE={dest}"
    print(f"your workspace: {dest}\nopen it with: {make}  (or jupyter lab --notebook-dir={dest})")
    return 0


def _release(args: argparse.Namespace) -> int:
    from lm_course.workspace import release

    for path in release(args.out, no_solutions=args.no_solutions):
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from lm_course.grading import grade

    verdicts = grade(args.submissions, args.out, cell_timeout=args.cell_timeout,
                     notebook_timeout=args.notebook_timeout)
    passed = sum(v.status == "pass" for v in verdicts)
    print(f"{passed} of {len(verdicts)} exercise checks passed; gradebook in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lm_course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print versions and the compute device").set_defaults(func=_info)
    sub.add_parser("corpus", help="build and verify the corpus splits").set_defaults(func=_corpus)
    download = sub.add_parser("download", help="cache GPT-2 weights and tokenizer (needs network once)")
    download.add_argument("names", nargs="*", default=["gpt2"], help="hub names, default gpt2")
    download.set_defaults(func=_download)
    make = sub.add_parser("make-reference", help="re-make a shipped model (lm_course/shipped_data/) from its recipe")
    make.add_argument("kind", metavar="NAME", help="a shipped model: a key of lm_course.reference.SHIPPED "
                      "(gpt, gpt-small, mlp, lstm)")
    make.add_argument("--out", type=Path, default=None, help="where to write it (default: the repository's lm_course/shipped_data/)")
    make.add_argument("--state", type=Path, default=None, metavar="FILE",
                      help="save the training state to FILE every 500 steps; if FILE exists, carry on from it "
                           "(same weights as one uninterrupted run)")
    make.set_defaults(func=_make_reference)
    slides = sub.add_parser("slides", help="the notebooks' slide metadata and offline decks")
    slides.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    slides.add_argument("--write", action="store_true", help="(re)write the slide metadata by the rules")
    slides.add_argument("--export", type=Path, default=None, metavar="DIR", help="write offline HTML decks to DIR")
    slides.set_defaults(func=_slides)
    classroom = sub.add_parser("classroom", help="prepare and check this machine for a class")
    classroom.add_argument("--no-download", action="store_true", help="do not try to cache GPT-2's weights")
    classroom.set_defaults(func=_classroom)
    workspace = sub.add_parser("workspace", help="copy the chapters into a folder of your own")
    workspace.add_argument("dir", nargs="?", type=Path, default=None, help="default ~/lm-course-work")
    workspace.set_defaults(func=_workspace)
    release = sub.add_parser("release", help="write the student edition of the chapters (homework)")
    release.add_argument("out", type=Path)
    release.add_argument("--no-solutions", action="store_true", help="remove the hidden solutions")
    release.set_defaults(func=_release)
    grade = sub.add_parser("grade", help="grade submitted notebooks with the course's checkers")
    grade.add_argument("submissions", nargs="+", type=Path, help="notebooks, or folders of them")
    grade.add_argument("--out", type=Path, default=Path("gradebook"), help="default ./gradebook")
    grade.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell (default 120)")
    grade.add_argument("--notebook-timeout", type=int, default=900, help="seconds per notebook (default 900)")
    grade.set_defaults(func=_grade)
    return parser


class UserError(Exception):
    """A mistake the user can fix: reported in one line, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean a bad argument, file or set-up (never a bug of the course)."""
    from lm_course.data import CorpusError

    errors: list[type[BaseException]] = [UserError, OSError, ValueError, CorpusError, TimeoutError]
    try:
        from lm_course.hub import HubUnavailable

        errors.append(HubUnavailable)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"lm_course {args.command}: interrupted", file=sys.stderr)
        return 130
    except _user_errors() as err:
        if os.environ.get("LM_COURSE_DEBUG") == "1":  # the traceback, for the course's maintainers
            raise
        message = str(err).strip().replace("\n", " ") or type(err).__name__
        print(f"lm_course {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
