"""The course's byte-level BPE against Hugging Face ``tokenizers`` and
``tiktoken`` (issue 17, "BPE").

    python bench/bpe_vs_libraries.py            # about 1 minute on 2 cores
    python bench/bpe_vs_libraries.py --quick    # a slice of the training split, 1 round

Two measurements, interleaved (``bench/timing.py``):

1. **Learning 1,000 merges** on the training split: the course's
   :meth:`lm_course.tokenizers.BPETokenizer.train` (pure Python: distinct
   chunks counted once, pair counts updated incrementally, a heap) against
   ``tokenizers``' ``BpeTrainer`` (Rust, byte level: its 256-byte initial
   alphabet, GPT-2's pre-tokenizer, the same vocabulary size 1,256 and
   ``min_frequency`` 2), fed the split line by line as usual (so it can use
   every core). Both learn from the same text; the table says how many of the
   1,000 tokens they agree on (the pre-splits differ slightly: the course
   uses Python's ``re`` with ``[^\\W\\d_]`` for a letter, ``tokenizers``
   ``\\p{L}``, and ties between equally frequent pairs are broken differently).
2. **Encoding the validation split with GPT-2's merges**: the course's
   ``BPETokenizer.from_gpt2()`` (when the package has it) against
   ``tokenizers`` (GPT-2's tokenizer from the files the course ships in
   ``lm_course/shipped_data/gpt2/``, via :func:`lm_course.tokenizers.gpt2_tokenizer`) and
   ``tiktoken`` (an ``Encoding`` built from the same ``vocab.json``: the ranks
   are the ids, GPT-2's pattern is tiktoken's own ``r50k_pat_str``; no
   network). Every call starts from a fresh tokenizer (built outside the
   timed region), so no call profits from a cache filled by the one before.
   The ids must be identical.

The course's BPE is the readable one; the ratios say honestly what that
costs. Serves ``02_tokens_and_embeddings.ipynb``, "Byte-pair encoding" and
"GPT-2's tokenizer".
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import Section, Table, Target, timed_section  # noqa: E402
from bench.timing import format_ratio, format_seconds, interleaved, summarize  # noqa: E402

__all__ = ["Plan", "FULL", "QUICK", "hf_train", "hf_merged_tokens", "gpt2_ranks", "tiktoken_gpt2",
           "hf_gpt2", "course_gpt2", "run"]

N_BYTES = 256


@dataclass(frozen=True)
class Plan:
    """Sizes and rounds (a comment per field)."""

    merges: int = 1_000  # merges to learn (vocabulary 256 + merges)
    train_chars: int | None = None  # None: the whole training split
    encode_chars: int | None = None  # None: the whole validation split
    train_rounds: int = 5
    encode_rounds: int = 5


FULL = Plan()
QUICK = Plan(merges=100, train_chars=200_000, encode_chars=20_000, train_rounds=1, encode_rounds=1)


# ---- learning merges ------------------------------------------------------------

def hf_train(text: str, vocab_size: int):
    """A byte-level BPE learned by ``tokenizers``' ``BpeTrainer`` on ``text``
    (fed line by line), ``vocab_size`` tokens, no special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text.splitlines(keepends=True), trainer=trainer)
    return tok


def hf_merged_tokens(tok) -> list[bytes]:
    """The bytes of the token each merge of a ``tokenizers`` BPE creates, in order."""
    from lm_course.tokenizers.bpe import bytes_to_unicode

    decode = {c: b for b, c in bytes_to_unicode().items()}
    merges = json.loads(tok.to_str())["model"]["merges"]
    pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]  # "a b" or ["a", "b"]
    return [bytes(decode[c] for c in a + b) for a, b in pairs]


# ---- GPT-2's tokenizer three ways ------------------------------------------------

def gpt2_ranks() -> dict[bytes, int]:
    """GPT-2's 50,256 BPE tokens as ``{token bytes: rank}`` (the rank is the
    id), read from the shipped ``lm_course/shipped_data/gpt2/vocab.json`` (GPT-2's byte-to-unicode
    spelling undone)."""
    from lm_course.tokenizers.bpe import bytes_to_unicode
    from lm_course.tokenizers.gpt2 import shipped_gpt2_dir

    decode = {c: b for b, c in bytes_to_unicode().items()}
    vocab = json.loads((shipped_gpt2_dir() / "vocab.json").read_text(encoding="utf-8"))
    return {bytes(decode[c] for c in token): rank for token, rank in vocab.items() if token != "<|endoftext|>"}


def tiktoken_gpt2(ranks: dict[bytes, int]):
    """``tiktoken.get_encoding("gpt2")`` without the network: the same
    ``Encoding`` built from the shipped ranks and tiktoken's GPT-2 pattern."""
    import tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str

    return tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


def hf_gpt2():
    """GPT-2's tokenizer as a ``tokenizers.Tokenizer`` (the Rust object behind
    ``transformers``' fast tokenizer), from the files the course ships."""
    from lm_course.tokenizers import gpt2_tokenizer

    return gpt2_tokenizer().backend_tokenizer


def course_gpt2():
    """The course's ``BPETokenizer`` with GPT-2's merges, or ``None`` when
    this version of the package has no ``BPETokenizer.from_gpt2``."""
    from lm_course.tokenizers import BPETokenizer

    factory = getattr(BPETokenizer, "from_gpt2", None)
    return factory() if factory is not None else None


def _fresh(pool: list, make: Callable[[], object], count: int) -> Callable[[], object]:
    """``count`` tokenizers built now; each call of the result hands out the next one."""
    pool.extend(make() for _ in range(count))
    return pool.pop


@timed_section
def run(quick: bool = False, plot_dir: Path | None = None, plan: Plan | None = None) -> Section:
    """Run the section; returns its tables, checks and raw numbers."""
    from lm_course.data import load_shakespeare
    from lm_course.tokenizers import BPETokenizer
    from tokenizers import Tokenizer

    plan = plan or (QUICK if quick else FULL)
    train_text = load_shakespeare("train")[: plan.train_chars]
    val_text = load_shakespeare("val")[: plan.encode_chars]
    vocab_size = N_BYTES + plan.merges
    print(f"bpe: learning {plan.merges} merges on {len(train_text):,} characters x {plan.train_rounds} rounds; "
          f"encoding {len(val_text):,} characters x {plan.encode_rounds} rounds", flush=True)

    learned = {}

    def course_train() -> None:
        learned["course"] = BPETokenizer.train(train_text, vocab_size)

    def hf_train_case() -> None:
        learned["tokenizers"] = hf_train(train_text, vocab_size)

    train_times = interleaved({"course": course_train, "tokenizers": hf_train_case}, rounds=plan.train_rounds,
                              warmup=0)
    course_tokens = [learned["course"].vocab[N_BYTES + k] for k in range(len(learned["course"].merges))]
    hf_tokens = hf_merged_tokens(learned["tokenizers"])
    prefix = next((k for k, (a, b) in enumerate(zip(course_tokens, hf_tokens)) if a != b),
                  min(len(course_tokens), len(hf_tokens)))
    shared = len(set(course_tokens) & set(hf_tokens))
    rows = summarize(train_times, "tokenizers")
    train_table = Table(f"Learning {plan.merges:,} merges on {len(train_text):,} training characters (seconds: "
                        "median and range; speed ratio course / tokenizers per round)",
                        ["rounds", "course", "tokenizers", "course / tokenizers", "merges learned (course, tokenizers)",
                         "same tokens", "same order for the first"])
    train_table.add(rows["course"].n, format_seconds(rows["course"]), format_seconds(rows["tokenizers"]),
                    format_ratio(rows["course"]), f"{len(course_tokens)}, {len(hf_tokens)}",
                    f"{shared} of {len(course_tokens)}", f"{prefix} merges")

    # encoding with GPT-2's merges
    ranks = gpt2_ranks()
    template = hf_gpt2()
    count = plan.encode_rounds + 1  # +1 for the identity check below
    cases: dict[str, Callable[[], object]] = {}
    ids: dict[str, list[int]] = {}
    course_probe = course_gpt2()
    makers: dict[str, tuple[Callable[[], object], Callable[[object], list[int]]]] = {
        "tiktoken": (lambda: tiktoken_gpt2(ranks), lambda enc: enc.encode_ordinary(val_text)),
        "tokenizers": (lambda: Tokenizer.from_str(template.to_str()),
                       lambda tok: tok.encode(val_text, add_special_tokens=False).ids),
    }
    if course_probe is not None:
        makers = {"course": (course_gpt2, lambda tok: tok.encode(val_text)), **makers}
    for name, (make, encode) in makers.items():
        take = _fresh([], make, count)
        cases[name] = (lambda take=take, encode=encode, name=name: ids.__setitem__(name, encode(take())))
    reference = "tokenizers"
    checks_failed = []
    for name in cases:  # the identity check (also a warm-up of each code path)
        cases[name]()
    for name in cases:
        if ids[name] != ids[reference]:
            first = next((i for i, (a, b) in enumerate(zip(ids[name], ids[reference])) if a != b),
                         min(len(ids[name]), len(ids[reference])))
            checks_failed.append(f"{name} and {reference} give different ids from token {first} on "
                                 f"({len(ids[name]):,} and {len(ids[reference]):,} tokens)")
    encode_times = interleaved(cases, rounds=plan.encode_rounds, warmup=0)
    vs_hf, vs_tt = summarize(encode_times, "tokenizers"), summarize(encode_times, "tiktoken")
    encode_table = Table(f"Encoding {len(val_text):,} validation characters with GPT-2's merges "
                         f"({len(ids[reference]):,} tokens; seconds: median and range; speed ratios per round)",
                         ["tokenizer", "rounds", "seconds", "characters/s", "vs tokenizers", "vs tiktoken"])
    for name in cases:
        s = vs_hf[name]
        encode_table.add(name, s.n, format_seconds(s, digits=3), f"{len(val_text) / s.median:,.0f}",
                         format_ratio(s), format_ratio(vs_tt[name]))

    notes = [f"`tokenizers` trains with its own thread pool (all {os.cpu_count()} cores unless RAYON_NUM_THREADS "
             "is set); the course's training and every encoder here run on one thread.",
             "GPT-2's tokenizer for `tokenizers` and `tiktoken` comes from `lm_course/shipped_data/gpt2/` "
             "(shipped, no network); `tiktoken.get_encoding('gpt2')` would download the same ranks."]
    if course_probe is None:
        notes.append("The course's row is missing: this version of `lm_course` has no `BPETokenizer.from_gpt2()` "
                     "(issue 20 adds it); `tokenizers` and `tiktoken` are compared with each other.")
    targets = [Target("identical ids from every GPT-2 encoder", not checks_failed,
                      ", ".join(cases) + (": all equal" if not checks_failed else ""))]
    return Section(
        key="bpe", title="BPE: the course's tokenizer against `tokenizers` and `tiktoken`",
        intro=("Learning merges, and encoding with GPT-2's merges. Speed ratios above 1 mean the first is faster; "
               "the course's BPE is written to be read, not to be fast."),
        tables=[train_table, encode_table], targets=targets, notes=notes, checks_failed=checks_failed,
        raw={"plan": plan.__dict__, "train_seconds": train_times, "encode_seconds": encode_times,
             "merges_same_prefix": prefix, "merges_shared": shared, "tokens": len(ids[reference])})


def main(argv: list[str] | None = None) -> int:
    from bench.report import section_main

    return section_main(run, __doc__, "a slice of the training split, 1 round", argv)


if __name__ == "__main__":
    sys.exit(main())
