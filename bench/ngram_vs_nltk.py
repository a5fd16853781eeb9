"""The course's Kneser-Ney n-gram against NLTK's (issue 17, "n-gram").

    python bench/ngram_vs_nltk.py            # about 1 minute on 2 cores
    python bench/ngram_vs_nltk.py --quick    # a few thousand characters, 1 round

Order-5 interpolated Kneser-Ney, fitted on training text and scored on
validation text, by the course's :class:`lm_course.ngram.NGramLM` (counts
as sorted integer codes, every query a batched binary search) and by
``nltk.lm.KneserNeyInterpolated`` (counts in dictionaries; every lower-order
probability *scans* all the n-grams of the order above to count
continuations). NLTK is very slow at scoring, so both get the same capped
data for the timed comparison: the first ``Plan.train_chars`` characters of
the training split, and ``Plan.score_chars`` validation characters (each
with its 4 preceding characters as context). Both use the course's discount
(0.75) so that they define nearly the same model; NLTK's own default
discount (0.1) is scored too, once, untimed. The course's model is then also
fitted and scored on the whole splits (no NLTK: it would take hours).

Definitional differences (they explain the small gap in bits per character):

* NLTK's lowest order is the continuation unigram ``N1+(. w) / N1+(. .)``,
  undiscounted and *not* mixed with a uniform distribution: a character never
  seen after another one in training gets probability 0 (infinite perplexity).
  The course discounts the unigram too and interpolates with ``1/V``, so every
  character keeps a probability > 0.
* NLTK's vocabulary is the training text's characters plus ``<UNK>``
  (a validation character unseen in training becomes ``<UNK>``); the course
  uses the corpus's 63 characters.
* Padding: none here. NLTK's usual pipeline (``padded_everygram_pipeline``)
  pads each sentence with ``<s>``/``</s>``; a character stream has no
  sentences, and the course's model does not pad (short contexts at the start
  of a text use the lower orders).

Serves ``01_ngrams.ipynb``, "Kneser-Ney".
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.report import Section, Table, timed_section  # noqa: E402
from bench.timing import format_ratio, format_seconds, interleaved, summarize  # noqa: E402

__all__ = ["Plan", "FULL", "QUICK", "nltk_fit", "nltk_log2_probs", "course_log2_probs", "bits", "run"]

ORDER = 5


@dataclass(frozen=True)
class Plan:
    """Data caps and rounds (a comment per field)."""

    train_chars: int = 50_000  # training characters both models fit in the timed comparison
    score_chars: int = 2_000  # validation characters both score (each with its 4 preceding as context)
    fit_rounds: int = 5  # interleaved rounds of the fits (NLTK: ~2 s each on 50,000 characters)
    score_rounds: int = 5  # interleaved rounds of the scoring (NLTK: a few ms per character)
    full_rounds: int = 5  # rounds of the course's model on the whole splits (~1 s each)


FULL = Plan()
QUICK = Plan(train_chars=5_000, score_chars=100, fit_rounds=1, score_rounds=1, full_rounds=1)


def nltk_fit(text: str, order: int = ORDER, discount: float = 0.1):
    """``nltk.lm.KneserNeyInterpolated`` of ``order`` fitted on the characters
    of ``text`` as one unpadded sequence (its vocabulary: those characters)."""
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    model = KneserNeyInterpolated(order, discount=discount)
    model.fit([everygrams(list(text), max_len=order)], vocabulary_text=list(text))
    return model


def nltk_log2_probs(model, text: str, order: int = ORDER) -> np.ndarray:
    """``log2 p(text[t] | text[t-order+1:t])`` for ``t = order-1 .. len-1``
    (``-inf`` where NLTK gives probability 0)."""
    k = order - 1
    out = np.empty(len(text) - k)
    for t in range(k, len(text)):
        p = model.score(text[t], list(text[t - k:t]))
        out[t - k] = math.log2(p) if p > 0 else -math.inf
    return out


def course_log2_probs(model, ids, order: int = ORDER) -> np.ndarray:
    """The same positions as :func:`nltk_log2_probs`, from the course's
    batched ``token_log_probs`` (natural log, converted)."""
    return model.token_log_probs(ids)[order - 2:].numpy() / math.log(2)


def bits(log2p: np.ndarray) -> tuple[float, int, float]:
    """``(bits per character, characters with p = 0, bits per character over the others)``."""
    finite = np.isfinite(log2p)
    return float(-log2p.mean()), int((~finite).sum()), float(-log2p[finite].mean())


@timed_section
def run(quick: bool = False, plot_dir: Path | None = None, plan: Plan | None = None) -> Section:
    """Run the section; returns its tables, notes and raw numbers."""
    from lm_course.data import load_shakespeare
    from lm_course.evaluate import bits_per_token
    from lm_course.ngram import NGramLM
    from lm_course.corpus import corpus_ids, corpus_tokenizer

    plan = plan or (QUICK if quick else FULL)
    tok = corpus_tokenizer()
    V = tok.vocab_size
    train_text = load_shakespeare("train")[: plan.train_chars]
    val_text = load_shakespeare("val")[: plan.score_chars + ORDER - 1]
    train_ids, val_ids = tok.encode(train_text), tok.encode(val_text)
    D = NGramLM(ORDER).discount  # the course's default discount
    print(f"ngram_vs_nltk: {len(train_text):,} training characters, {plan.score_chars:,} scored; "
          f"NLTK scoring is the slow part", flush=True)

    fitted = {}

    def course_fit() -> None:
        fitted["course"] = NGramLM(ORDER, "kneser_ney", discount=D).fit(train_ids, V)

    def nltk_fit_case() -> None:
        fitted["nltk"] = nltk_fit(train_text, ORDER, D)

    fit_times = interleaved({"course": course_fit, "NLTK": nltk_fit_case}, rounds=plan.fit_rounds, warmup=0)
    scores = {}

    def course_score() -> None:
        scores["course"] = course_log2_probs(fitted["course"], val_ids)

    def nltk_score() -> None:
        scores["nltk"] = nltk_log2_probs(fitted["nltk"], val_text)

    score_times = interleaved({"course": course_score, "NLTK": nltk_score}, rounds=plan.score_rounds, warmup=0)
    start = time.perf_counter()
    nltk_default = nltk_log2_probs(nltk_fit(train_text, ORDER), val_text)  # NLTK's default discount 0.1
    default_s = time.perf_counter() - start

    fit_rows, score_rows = summarize(fit_times, "NLTK"), summarize(score_times, "NLTK")
    timing = Table(f"Order-5 interpolated Kneser-Ney on the first {len(train_text):,} training characters, "
                   f"scoring {plan.score_chars:,} validation characters (seconds: median and range; speed ratio "
                   f"course / NLTK per round)", ["step", "rounds", "course", "NLTK", "course / NLTK"])
    for step, rows in (("fit", fit_rows), ("score", score_rows)):
        timing.add(step, rows["course"].n, format_seconds(rows["course"], digits=4), format_seconds(rows["NLTK"]),
                   format_ratio(rows["course"]))

    quality = Table("Validation bits per character on the same characters (perplexity = 2 ** bits)",
                    ["model", "discount", "bits/char", "characters with p = 0", "bits/char without them"])
    for name, logp, disc in (("course", scores["course"], D), ("NLTK", scores["nltk"], D),
                             ("NLTK, its default discount", nltk_default, 0.1)):
        b, zeros, b_finite = bits(logp)
        quality.add(name, disc, f"{b:.4f}" if math.isfinite(b) else "inf", zeros, f"{b_finite:.4f}")
    both = np.isfinite(scores["nltk"])
    gap = float(np.abs(scores["course"][both] - scores["nltk"][both]).max()) if both.any() else math.nan

    # the course's model on the whole splits (NLTK would take hours here)
    full_train, full_val = corpus_ids("train"), corpus_ids("val")
    full = {}

    def full_fit() -> None:
        full["model"] = NGramLM(ORDER, "kneser_ney").fit(full_train, V)

    def full_score() -> None:
        full["bits"] = bits_per_token(full["model"], full_val)

    full_fit()
    full_times = interleaved({"fit": full_fit, "score": full_score}, rounds=plan.full_rounds, warmup=0)
    full_rows = summarize(full_times)
    whole = Table("The course's model on the whole splits (no NLTK)",
                  ["training characters", "validation characters", "fit", "score", "validation bits/char"])
    whole.add(f"{len(full_train):,}", f"{len(full_val):,}", format_seconds(full_rows["fit"]),
              format_seconds(full_rows["score"]), f"{full['bits']:.4f}")

    notes = [
        f"NLTK's share is capped: both models fit the first {len(train_text):,} training characters (of "
        f"{len(full_train):,}) and score {plan.score_chars:,} validation characters; NLTK with its default "
        f"discount took {default_s:.0f} s for one fit and scoring, untimed in the table.",
        f"On the characters both give a probability > 0, the two models' log2-probabilities differ by at most "
        f"{gap:.3g} bits (same discount): the remaining differences are definitional (below).",
        "NLTK's lowest order is the undiscounted continuation unigram with no uniform floor, so a character "
        "never seen after another in training gets p = 0 (infinite perplexity); the course discounts the "
        "unigram too and interpolates with 1/V (63 characters), so no character gets 0.",
        "NLTK's vocabulary: the training characters plus `<UNK>`; the course's: the corpus's 63 characters. "
        "No padding on either side (NLTK's usual `padded_everygram_pipeline` adds `<s>`/`</s>` per sentence; "
        "a character stream has no sentences).",
        "Why NLTK is slow: every lower-order probability scans all n-grams of the order above to count "
        "continuations (`KneserNey._continuation_counts`), for every query; the course counts them once "
        "at fit time and answers a whole text with batched binary searches.",
    ]
    return Section(
        key="ngram", title="n-gram: interpolated Kneser-Ney against NLTK",
        intro=("The course's `lm_course.ngram.NGramLM(5, 'kneser_ney')` against `nltk.lm.KneserNeyInterpolated(5)` "
               "on the same characters, with the same discount; speed ratios above 1 mean the course is faster."),
        tables=[timing, quality, whole], notes=notes,
        raw={"plan": plan.__dict__, "fit_seconds": fit_times, "score_seconds": score_times,
             "full_seconds": full_times, "bits": {k: bits(v) for k, v in
                                                  (("course", scores["course"]), ("nltk", scores["nltk"]),
                                                   ("nltk_default_discount", nltk_default))},
             "max_log2_difference": gap, "full_val_bits": full["bits"]})


def main(argv: list[str] | None = None) -> int:
    from bench.report import section_main

    return section_main(run, __doc__, "a few thousand characters, 1 round", argv)


if __name__ == "__main__":
    sys.exit(main())
