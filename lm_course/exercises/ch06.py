"""Checkers for the exercises of ``06_gpt2_sampling.ipynb`` (section "Exercises").

* Exercise 1, :func:`check_top_k`: the student writes top-k filtering
  (section "Top-k"); compared with :func:`lm_course.sampling.filter_logits`.
* Exercise 2, :func:`check_nucleus`: the student writes the top-p mask
  (section "Top-p (nucleus) sampling"); compared with ``filter_logits``.
* Exercise 3, :func:`check_cached_attention`: the student writes one decoding
  step of attention with a KV cache (section "The KV cache"); run token by
  token and compared with causal attention over the whole sequence
  (:func:`lm_course.attention.scaled_dot_product_attention`).
* Exercise 4, :func:`check_generate`: the student writes the sampling loop with
  a temperature and the context cropped to ``block_size``; compared token for
  token with :func:`lm_course.sampling.generate` under the same seed.
* Exercise 5, :func:`check_beam_step`: the student writes one step of beam
  search; compared with the step of :func:`lm_course.sampling.beam_search`.
* Exercise 6, :func:`check_generate_cached` (no notebook cell yet): greedy
  generation with the KV cache; compared with ``generate(..., use_cache=True)``,
  watching what the model is fed at each step.

Every checker prints ✅ or ❌ with a hint naming the likely mistake and never
raises: a student's bug never stops the notebook (see
:mod:`lm_course.exercises._check`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lm_course.attention import causal_mask, scaled_dot_product_attention
from lm_course.exercises._check import MISSING, call, exercise, report
from lm_course.gpt import GPT, GPTConfig
from lm_course.sampling import filter_logits, generate

# The notebook's checkers, in its order (lm_course.grading reads them from here). check_generate_cached, whose
# notebook cell is still to come, is public but not listed yet.
__all__ = ["check_top_k", "check_nucleus", "check_cached_attention", "check_generate", "check_beam_step", "check_generate_cached",
           "generate_reference", "beam_step_reference", "generate_cached_reference"]


def _tensor_like(got: object, want: torch.Tensor, name: str, what: str) -> bool:
    """Report and return False unless ``got`` is a tensor of ``want``'s shape."""
    if isinstance(got, torch.Tensor) and got.shape == want.shape:
        return True
    seen = f"a tensor of shape {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
    return report(False, name, "", f"return {what} of shape {tuple(want.shape)}, got {seen}.")


# ---- exercise 1: top-k -----------------------------------------------------

def _top_k_cases() -> list[tuple[torch.Tensor, int]]:
    gen = torch.Generator().manual_seed(61)
    return [
        (torch.tensor([2.0, -1.0, 3.0, 0.5, -4.0]), 2),  # plain
        (torch.tensor([-1.0, -3.0, -1.0, -2.0, -5.0, -1.0]), 2),  # ties with the 2nd: all three -1.0 stay
        (torch.tensor([0.3, 1.2, -0.7]), 1),  # k = 1 is greedy's single token
        (torch.tensor([0.3, 1.2, -0.7]), 3),  # k = V removes nothing
        (torch.randn(4, 30, generator=gen) * 2, 5),  # a batch: every row its own k-th value
        (torch.randint(-3, 3, (3, 20), generator=gen).float(), 4),  # a batch full of ties
    ]


@exercise("ch06.top_k_filter")
def check_top_k(top_k_filter: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """Exercise 1: ``top_k_filter(logits, k)`` for logits ``(V,)`` or ``(B, V)``
    returns the same shape: each row's ``k`` largest logits (and every logit
    tied with the k-th) unchanged, every other entry ``-inf``; the input is
    not modified. Compared with ``filter_logits(logits, top_k=k)``."""
    name = "Exercise 1 (top-k)"
    batch_hint = ("your function works on one row but not on a batch (B, V): take the k-th largest along the last "
                  "dimension, per row, and keep that dimension (dim=-1, keepdim=True) so it broadcasts.")
    for logits, k in _top_k_cases():
        want = filter_logits(logits, top_k=k)
        rows_ok = logits.dim() == 2 and _one_row_ok(top_k_filter, logits, k)
        if rows_ok:  # a batch: a failure here is a batching bug
            got = call(top_k_filter, logits, k, quiet=True)
            if got is MISSING:
                return report(False, name, "", batch_hint)
        else:
            got = call(top_k_filter, logits, k)
        if not _tensor_like(got, want, name, "logits"):
            return False
        got = got.to(want.dtype)
        kept, want_kept = torch.isfinite(got), torch.isfinite(want)
        if torch.equal(kept, want_kept) and torch.allclose(got[kept], want[kept]):
            continue
        if rows_ok:
            return report(False, name, "", batch_hint)
        if bool(((got >= 0) & (got <= 1)).all()) and torch.allclose(got.sum(-1), torch.ones(got.shape[:-1])):
            return report(False, name, "", "you returned probabilities; return logits: the kept ones unchanged, "
                                           "the others -inf (the softmax comes later, in the sampler).")
        if bool(torch.isfinite(got[~want_kept]).all()) and torch.allclose(got[want_kept], want[want_kept]):
            return report(False, name, "", "removed tokens must get -inf (float('-inf')), not a finite number "
                                           "such as 0: softmax gives exp(0) = 1 a share of the probability.")
        if torch.equal(kept, want_kept):
            return report(False, name, "", "you keep the right tokens but changed their logits: leave the kept "
                                           "logits exactly as they were.")
        n_got, n_want = kept.sum(-1), want_kept.sum(-1)  # per row
        if bool((n_got == k).all()) and bool((n_want > k).any()):
            return report(False, name, "", f"with ties you keep exactly k = {k}; top-k keeps every token whose "
                                           "logit equals the k-th largest too: compare the logits with the k-th "
                                           "largest value (logits < kth -> -inf) rather than keeping k indices.")
        if bool((n_got == n_want - 1).all()):
            return report(False, name, "", "you keep one token too few (k - 1): keep the logits >= the k-th "
                                           "largest and remove only those strictly below it.")
        if bool((n_got == n_want + 1).all()):
            return report(False, name, "", "you keep one token too many (k + 1): the k-th largest is "
                                           "topk(...).values[..., -1], the last of the k values.")
        return report(False, name, "", f"for k = {k} you keep {n_got.tolist()} token(s) per row, top-k keeps "
                                       f"{n_want.tolist()}; keep the k largest logits and any tied with the k-th.")
    return report(True, name, "each row's k-th largest logit is the threshold; ties with it survive, as in "
                              "transformers' TopKLogitsWarper.", "")


def _one_row_ok(top_k_filter: Callable, logits: torch.Tensor, k: int) -> bool:
    """Whether the student's function is right on each row of ``logits`` alone."""
    for row in logits:
        got = call(top_k_filter, row, k, quiet=True)
        want = filter_logits(row, top_k=k)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or \
                not torch.equal(torch.isfinite(got), torch.isfinite(want)):
            return False
    return True


# ---- exercise 2: the nucleus -----------------------------------------------

@exercise("ch06.nucleus")
def check_nucleus(nucleus: Callable[[torch.Tensor, float], torch.Tensor]) -> bool:
    """Exercise 2: ``nucleus(probs, p) -> bool mask`` ``(V,)`` in vocabulary
    order of the tokens top-p keeps, compared with
    :func:`~lm_course.sampling.filter_logits` on fixed and random cases."""
    name = "Exercise 2 (the nucleus)"
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.tensor([0.1, 0.5, 0.15, 0.25]), 0.7), (torch.tensor([0.9, 0.05, 0.05]), 0.5)]
    cases += [(torch.softmax(torch.randn(30, generator=gen) * s, -1), p) for s in (1, 3) for p in (0.3, 0.9)]
    for probs, p in cases:
        want = torch.isfinite(filter_logits(probs.log(), top_p=p))
        got = call(nucleus, probs, p)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != torch.bool:
            what = f"{got.dtype} {tuple(got.shape)}" if isinstance(got, torch.Tensor) else type(got).__name__
            return report(False, name, "", f"return a boolean tensor of shape {tuple(want.shape)}, got {what}.")
        if torch.equal(got, want):
            continue
        n_got, n_want = int(got.sum()), int(want.sum())
        if n_got == n_want:
            in_sorted_order = torch.zeros_like(want)
            in_sorted_order[:n_want] = True
            if torch.equal(got, in_sorted_order):
                return report(False, name, "", "you keep the right number of tokens but return the mask in sorted "
                                               "order; return it in vocabulary order (mask[i] is about token i): "
                                               "undo the sort with the indices torch.sort returned.")
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, as top-p does, but not the most "
                                           "probable ones: sort in descending order and return the mask in "
                                           "vocabulary order.")
        if n_got < n_want:
            return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Keep the "
                                           "token that makes the total reach p (cumsum <= p drops it).")
        return report(False, name, "", f"for p = {p} you keep {n_got} tokens, top-p keeps {n_want}. Stop as soon "
                                       "as the running total reaches p.")
    return report(True, name, "sort, accumulate, and keep up to the token whose running total reaches p.", "")


# ---- exercise 3: one attention step with a KV cache ------------------------

def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None,
            dim: int = -1) -> torch.Tensor:
    """softmax(q k^T * scale) v over ``dim`` of the scores: the wrong versions' maths."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=dim) @ v


def _cat_hint(err: Exception) -> str:
    if "Sizes of tensors must match" in str(err) or "size" in str(err).lower():
        return ("Append along the position dimension, dim=2 (caches are (B, H, P, D); at the first step P = 0), "
                "and check the shapes of q @ k_all^T (B, H, 1, P + 1).")
    return ""


@exercise("ch06.attention_step")
def check_cached_attention(attention_step: Callable) -> bool:
    """Exercise 3: ``attention_step(q, k_new, v_new, k_cache, v_cache)`` with
    ``q, k_new, v_new`` ``(B, H, 1, D)`` and caches ``(B, H, P, D)`` (``P``
    may be 0) returns ``(out, k_all, v_all)``: the new token's attention
    output ``(B, H, 1, D)`` over all ``P + 1`` positions and the caches with
    the new key and value appended, ``(B, H, P + 1, D)``.

    Run token by token from an empty cache and compared with causal attention
    over the whole sequence at once
    (:func:`~lm_course.attention.scaled_dot_product_attention` with
    :func:`~lm_course.attention.causal_mask`).
    """
    name = "Exercise 3 (attention with a KV cache)"
    gen = torch.Generator().manual_seed(63)
    B, H, T, D = 2, 3, 6, 4
    q, k, v = (torch.randn(B, H, T, D, generator=gen, dtype=torch.float64) for _ in range(3))  # (B, H, T, D)
    full, _ = scaled_dot_product_attention(q, k, v, causal_mask(T))  # (B, H, T, D): the answer, all at once
    k_cache, v_cache = k[:, :, :0], v[:, :, :0]  # (B, H, 0, D): nothing cached yet
    for t in range(T):
        step = slice(t, t + 1)
        got = call(attention_step, q[:, :, step], k[:, :, step], v[:, :, step], k_cache, v_cache,
                   on_error=_cat_hint)
        if not isinstance(got, tuple) or len(got) != 3:
            return report(False, name, "", f"return a tuple (out, k_all, v_all), got {type(got).__name__}.")
        out, k_all, v_all = got
        want_k, want_v = k[:, :, :t + 1], v[:, :, :t + 1]  # (B, H, t + 1, D)
        if not (_tensor_like(k_all, want_k, name, "k_all") and _tensor_like(v_all, want_v, name, "v_all")):
            if isinstance(k_all, torch.Tensor) and k_all.dim() == 4 and k_all.size(2) != t + 1:
                print("   (append along the position dimension, dim=2: the caches grow by one position per step)")
            return False
        if not (torch.allclose(k_all.double(), want_k) and torch.allclose(v_all.double(), want_v)):
            reordered = torch.cat([k[:, :, step], k[:, :, :t]], dim=2)
            if torch.allclose(k_all.double(), reordered):
                return report(False, name, "", "you put the new key before the cache: append it at the end "
                                               "(torch.cat([k_cache, k_new], dim=2)) so the cache stays in "
                                               "position order.")
            return report(False, name, "", "k_all and v_all must be the caches with this step's k_new and v_new "
                                           "appended, unchanged otherwise.")
        if not _tensor_like(out, full[:, :, step], name, "the attention output (B, H, 1, D)"):
            return False
        out = out.double()
        if torch.allclose(out, full[:, :, step]):
            k_cache, v_cache = k_all, v_all  # the student's cache feeds the next step, as in generation
            continue
        qt, ka, va = q[:, :, step], k[:, :, :t + 1], v[:, :, :t + 1]
        if torch.allclose(out, _attend(qt, ka, va, scale=1.0)):
            return report(False, name, "", "scale the scores: divide q @ k^T by sqrt(D) before the softmax.")
        if torch.allclose(out, _attend(qt, ka, va, dim=-2)):
            return report(False, name, "", "the softmax runs over the keys, the last dimension of the scores "
                                           "(dim=-1); over the single query every weight becomes 1.")
        if t == 1 and torch.allclose(out, va[:, :, :1]):  # "old cache only" or "first key only": step 2 tells
            k_cache, v_cache = k_all, v_all
            continue
        if t > 0 and torch.allclose(out, _attend(qt, ka[:, :, :t], va[:, :, :t])):
            return report(False, name, "", "the new token attends to itself too: attend over the cache *with* "
                                           "the new key and value appended (k_all, v_all), not over the old cache.")
        if t > 0 and torch.allclose(out, va[:, :, :1]):
            return report(False, name, "", "your new token sees only the first position. No mask is needed in a "
                                           "cached step: the cache holds only earlier positions, all of which the "
                                           "newest token may see. (F.scaled_dot_product_attention(..., "
                                           "is_causal=True) with 1 query and P + 1 keys aligns the mask top-left "
                                           "and lets the query see key 0 only.)")
        return report(False, name, "", f"at step {t} (with {t} cached positions) the output differs from causal "
                                       "attention over the whole sequence: out = softmax(q @ k_all^T / sqrt(D)) "
                                       "@ v_all.")
    return report(True, name, f"{T} steps from an empty cache give exactly causal attention over all {T} "
                              "positions: this is what every layer of GPT does per generated token.", "")


# ---- exercise 4: the decoding loop -----------------------------------------

def _toy_gpt(seed: int, block_size: int = 6):
    """A small random GPT with peaked next-token distributions (its embeddings
    scaled up), so that a wrong temperature or a wrong axis changes the samples."""
    with torch.random.fork_rng(devices=[]):  # the notebook's random state is left alone
        torch.manual_seed(seed)
        model = GPT(GPTConfig(vocab_size=13, block_size=block_size, n_layer=1, n_head=2, n_embd=16)).eval()
        with torch.no_grad():
            model.transformer.wte.weight.mul_(12.0)  # (V, C): logits of a few units, not ~0.01
            model.transformer.wpe.weight.mul_(8.0)  # (T, C): the position matters too
    return model


def generate_reference(model, idx: torch.Tensor, max_new_tokens: int, temperature: float,
                       generator: torch.Generator, *, crop: str = "last", temp: str = "divide",
                       sample_from: str = "probs", dim: int = -1) -> torch.Tensor:
    """Exercise 4's decoding loop: ``idx`` ``(B, T)`` continued by
    ``max_new_tokens`` tokens sampled at ``temperature`` from ``generator``,
    the context cropped to ``block_size`` (the defaults: the tokens of
    ``lm_course.sampling.generate(..., do_sample=True, use_cache=False)``), or
    with one of the mistakes the checker recognises: ``crop="first"``,
    ``temp="multiply"``, ``sample_from="argmax"`` (greedy) or ``"exp"``
    (unnormalised exp of the logits), ``dim=0`` (the softmax over the batch)."""
    block = model.config.block_size
    with torch.no_grad():
        for _ in range(max_new_tokens):
            context = {"last": idx[:, -block:], "first": idx[:, :block]}[crop]  # (B, <= block)
            logits = model(context).logits[:, -1, :]  # (B, V)
            logits = logits / temperature if temp == "divide" else logits * temperature
            if sample_from == "probs":
                nxt = torch.multinomial(torch.softmax(logits, dim=dim), 1, generator=generator)  # (B, 1)
            elif sample_from == "argmax":
                nxt = logits.argmax(-1, keepdim=True)
            else:  # exp of the logits, not normalised: multinomial accepts it, the same samples as softmax
                nxt = torch.multinomial(logits.exp(), 1, generator=generator)
            idx = torch.cat([idx, nxt], dim=1)
    return idx


_GENERATE_MISTAKES = [
    (dict(temp="multiply"), "the logits are multiplied by the temperature; divide them: logits / temperature "
                            "(below 1 sharper, above 1 flatter)."),
    (dict(dim=0), "the softmax runs over the batch (dim=0); each row's probabilities are over the vocabulary: "
                  "torch.softmax(logits, dim=-1)."),
    (dict(sample_from="argmax"), "that is greedy decoding (argmax); sample the next token from the "
                                 "probabilities with torch.multinomial(probs, 1, generator=generator)."),
    (dict(crop="first"), "the context is cropped to its *first* block_size tokens: keep the last ones, "
                         "idx[:, -block_size:]."),
]


def _generate_cases():
    """(model, prompt, new tokens, temperature, seed): short, past block_size, a prompt of one token."""
    g = torch.Generator().manual_seed(64)
    return [(_toy_gpt(0), torch.randint(0, 13, (3, 2), generator=g), 12, 0.5, 1),
            (_toy_gpt(1), torch.randint(0, 13, (2, 4), generator=g), 10, 2.0, 2),
            (_toy_gpt(2, block_size=4), torch.randint(0, 13, (1, 1), generator=g), 9, 0.8, 3),
            (_toy_gpt(3), torch.randint(0, 13, (4, 3), generator=g), 3, 1.0, 4)]


@exercise("ch06.generate_loop")
def check_generate(generate_fn: object) -> bool:
    """Exercise 4: ``generate_fn(model, idx, max_new_tokens, temperature, generator)``:
    sampling with a temperature, the context cropped to ``block_size``; the same
    tokens as ``lm_course.sampling.generate(..., do_sample=True, use_cache=False)``
    with the same seed."""
    name = "Exercise 4 (the decoding loop)"
    suspects, first_where = None, None  # the mistakes that explain every wrong case, and the first one
    for model, idx, n, temperature, seed in _generate_cases():
        want = generate(model, idx, n, do_sample=True, temperature=temperature, use_cache=False,
                        generator=torch.Generator().manual_seed(seed))  # (B, T + n)
        where = (f"(prompt of shape {tuple(idx.shape)}, {n} new tokens, block_size {model.config.block_size}, "
                 f"temperature {temperature})")

        def on_error(err: Exception, n=n, idx=idx, model=model) -> str:
            if idx.size(1) + n > model.config.block_size and "block_size" in str(err):
                return ("The text grew past block_size: feed the model only the last block_size tokens, "
                        "idx[:, -block_size:], at every step.")
            if "multinomial" in str(err) or "probability tensor" in str(err):
                return ("torch.multinomial needs probabilities (non-negative, one row per sequence): sample "
                        "from torch.softmax(logits / temperature, dim=-1), not from the logits.")
            return ""

        got = call(generate_fn, model, idx, n, temperature, torch.Generator().manual_seed(seed), on_error=on_error,
                   timeout=20.0)
        if not _tensor_like(got, want, name, "the prompt followed by the new tokens, (B, T + max_new_tokens),"):
            return False
        if not torch.equal(got[:, :idx.size(1)].long(), idx):
            return report(False, name, "", f"return the prompt followed by the new tokens (the prompt first). {where}")
        # the mistakes whose samples equal the student's on every case so far (right cases included)
        matching = {k for k, (switches, _) in enumerate(_GENERATE_MISTAKES)
                    if torch.equal(got.long(), generate_reference(model, idx, n, temperature,
                                                                  torch.Generator().manual_seed(seed), **switches))}
        suspects = matching if suspects is None else suspects & matching
        if not torch.equal(got.long(), want):
            first_where = first_where or where
    if first_where is not None:
        if suspects:
            return report(False, name, "", f"{_GENERATE_MISTAKES[min(suspects)][1]} {first_where}")
        return report(False, name, "", f"other tokens than lm_course.sampling.generate with the same seed "
                                       f"{first_where}. Use the generator for every torch.multinomial call (one "
                                       "call per step for the whole batch) and nothing else random; logits of "
                                       "the last position only, model(context).logits[:, -1, :].")
    return report(True, name, "token for token what lm_course.sampling.generate samples with the same seed, "
                              "cropping included.", "")


# ---- exercise 5: one step of beam search ----------------------------------

def beam_step_reference(scores: torch.Tensor, logp: torch.Tensor, num_beams: int, *, add: str = "log",
                        per_beam: bool = False, divide_by: str = "V") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of :func:`lm_course.sampling.beam_search` for one prompt (the
    defaults), or a known mistake: ``add="probs"`` adds probabilities,
    ``add="next"`` forgets the beams' scores; ``per_beam`` extends each beam by
    its own best token; ``divide_by="K"`` recovers the parent and the token
    from the flat index with the number of beams instead of the vocabulary size."""
    V = logp.size(-1)
    if per_beam:
        best, token = logp.max(-1)  # (K,)
        total = scores + best  # (K,)
        order = total.argsort(descending=True)[:num_beams]
        return total[order], order, token[order]
    if add == "log":
        candidates = scores[:, None] + logp  # (K, V) total log-probability of every extension
    elif add == "probs":
        candidates = scores.exp()[:, None] + logp.exp()  # mistake: probabilities added
    else:
        candidates = logp + 0 * scores[:, None].nan_to_num(0.0, neginf=0.0)  # mistake: the beam's score forgotten
    values, flat = candidates.reshape(-1).topk(num_beams)  # the best over all K * V extensions
    if divide_by == "K":  # the mistake: // K and % K (the result need not even index a real beam)
        K = logp.size(0)
        parent, token = flat // K, flat % K
        return values, parent, token
    parent, token = flat // V, flat % V
    return (scores[parent] + logp[parent, token]), parent, token


_BEAM_MISTAKES = [
    (dict(add="probs"), "the beams are ranked by probabilities added together; a sequence's probability is a "
                        "*product*, so add log-probabilities: beam_scores[:, None] + next_log_probs."),
    (dict(per_beam=True), "each beam is extended by its own best token; the new beams are the top num_beams over "
                          "*all* K * V extensions, so a good beam may give two of them and a weak one none."),
    (dict(add="next"), "the beams' scores so far are forgotten: rank the extensions by beam score + next-token "
                       "log-probability."),
    (dict(divide_by="K"), "the flat index of a (K, V) table is parent * V + token, so recover them with the "
                          "vocabulary size V: parent = index // V, token = index % V (not // K and % K, the "
                          "number of beams)."),
]


def _beam_cases() -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    g = torch.Generator().manual_seed(55)
    cases = []
    for K, V, n in ((3, 8, 3), (1, 10, 4), (4, 6, 4), (2, 50, 5)):
        scores = -torch.rand(K, generator=g).mul(6).sort(descending=True).values  # (K,) sorted, distinct
        logp = torch.log_softmax(torch.randn(K, V, generator=g) * 3, dim=-1)  # (K, V)
        cases.append((scores, logp, n))
    scores = torch.tensor([-1.0, -1.3, -5.0])  # a beam far behind, whose best tokens should lose
    logp = torch.log_softmax(torch.tensor([[0.0, 0.5, 0.2, -1.0], [3.0, 0.0, 0.0, 0.0], [6.0, -2.0, -2.0, -2.0]]), -1)
    cases.append((scores, logp, 3))
    start = torch.tensor([0.0, float("-inf"), float("-inf")])  # the first step: one live beam (as beam_search starts)
    cases.append((start, torch.log_softmax(torch.randn(3, 7, generator=g), -1), 3))
    return cases


@exercise("ch06.beam_step")
def check_beam_step(beam_step: object) -> bool:
    """Exercise 5: ``beam_step(beam_scores, next_log_probs, num_beams)``: the
    ``num_beams`` best one-token extensions of ``K`` beams, as
    :func:`lm_course.sampling.beam_search` chooses them at every step; returns
    ``(scores, parents, tokens)``, each ``(num_beams,)``, best first."""
    name = "Exercise 5 (one step of beam search)"
    suspects, first_where = None, None  # the mistakes that explain every wrong case, and the first one
    for scores, logp, n in _beam_cases():
        want_s, want_p, want_t = beam_step_reference(scores, logp, n)
        where = f"({logp.size(0)} beams, vocabulary {logp.size(1)}, num_beams={n})"
        got = call(beam_step, scores, logp, n)
        if not (isinstance(got, (tuple, list)) and len(got) == 3 and all(isinstance(t, torch.Tensor) for t in got)):
            return report(False, name, "", f"return three tensors (scores, parents, tokens), got "
                                           f"{type(got).__name__}.")
        s, p, t = got
        if any(x.numel() != n for x in got):
            sizes = [x.numel() for x in got]
            if n * logp.size(0) in sizes:
                more = " Take the top num_beams over all K * V candidates together, not num_beams per beam."
            elif set(sizes) == {logp.size(0)}:
                more = f" You return one per beam (K = {logp.size(0)}): {_BEAM_MISTAKES[1][1]}"
            else:
                more = ""
            return report(False, name, "", f"each of the three must have num_beams = {n} entries, got {sizes}.{more}")
        s, p, t = s.reshape(-1).double(), p.reshape(-1).long(), t.reshape(-1).long()
        matching = set()  # the mistakes that give the student's choice on every case so far (right ones included)
        for k, (switches, _) in enumerate(_BEAM_MISTAKES):
            _, wp, wt = beam_step_reference(scores, logp, n, **switches)
            if torch.equal(p, wp) and torch.equal(t, wt):
                matching.add(k)
        suspects = matching if suspects is None else suspects & matching
        if torch.equal(p, want_p) and torch.equal(t, want_t):
            if not torch.allclose(s, want_s.double(), atol=1e-5):
                return report(False, name, "", "the right extensions, but their scores are not the new totals: "
                                               f"score of the parent beam + log p(token). {where}")
            continue
        if set(zip(p.tolist(), t.tolist())) == set(zip(want_p.tolist(), want_t.tolist())):
            return report(False, name, "", f"the right extensions in the wrong order: sort them best first. {where}")
        if torch.equal(t, want_p) and torch.equal(p, want_t) and 3 not in matching:
            return report(False, name, "", f"parents and tokens are swapped: parent = index // V, "
                                           f"token = index % V. {where}")
        first_where = first_where or where
    if first_where is not None:
        if suspects:
            return report(False, name, "", f"{_BEAM_MISTAKES[min(suspects)][1]} {first_where}")
        return report(False, name, "", f"other extensions than beam_search's {first_where}: the totals are "
                                       "beam_scores[:, None] + next_log_probs (K, V); flatten, topk(num_beams), "
                                       "parent = index // V, token = index % V.")
    return report(True, name, "the K * V extensions ranked by total log-probability, the best num_beams kept: "
                              "exactly the step of lm_course.sampling.beam_search.", "")


# ---- exercise 6: greedy generation with the KV cache -------------------------

def _cache_hint(err: Exception) -> str:
    if "cached" in str(err) and "block_size" in str(err):
        return ("With a cache, feed only the NEW token (idx[:, -1:], shape (B, 1)): the cached positions are "
                "already in past_key_values, and feeding them again counts them twice.")
    return ""


def _feeds(model: GPT, fn: Callable, *args) -> tuple[object, list[tuple[int, int]]]:
    """``call(fn, model, *args)`` and what each forward pass of ``model``
    was fed: ``(new tokens T, cached positions P)``."""
    fed: list[tuple[int, int]] = []

    def spy(module, args, kwargs):
        idx = args[0] if args else kwargs.get("idx")
        past = kwargs.get("past_key_values", args[1] if len(args) > 1 else None)
        fed.append((int(idx.shape[-1]), 0 if past is None else int(past[0][0].size(2))))

    handle = model.register_forward_pre_hook(spy, with_kwargs=True)
    try:
        return call(fn, model, *args, timeout=20.0, on_error=_cache_hint), fed
    finally:
        handle.remove()


def generate_cached_reference(model: GPT, idx: torch.Tensor, max_new_tokens: int, *, stale: bool = False,
                              first_position: bool = False) -> torch.Tensor:
    """Greedy decoding with the KV cache (the defaults: the tokens of
    ``generate(model, idx, n, use_cache=True)``), or a wrong version:
    ``stale=True`` (the prompt's cache reused at every step, never the
    updated one), ``first_position=True`` (the prompt step's token from the
    logits of position 0)."""
    with torch.no_grad():
        out = model(idx, use_cache=True)
        prompt_past = past = out.past_key_values
        logits = out.logits[:, 0 if first_position else -1]  # (B, V)
        for step in range(max_new_tokens):
            nxt = logits.argmax(-1, keepdim=True)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
            if step == max_new_tokens - 1:
                break  # the last token needs no forward pass of its own
            if stale:  # the prompt's cache, with only the newest token fed
                out = model(nxt, past_key_values=prompt_past, use_cache=True)
            else:
                out = model(nxt, past_key_values=past, use_cache=True)
            past, logits = out.past_key_values, out.logits[:, -1]
    return idx


_CACHED_MISTAKES = [
    (dict(stale=True), "every step reuses the prompt's cache: pass the past_key_values the LAST call returned, so "
                       "the cache grows by one position per step."),
    (dict(first_position=True), "the first new token comes from the logits of the LAST prompt position, "
                                "out.logits[:, -1], not position 0."),
]


@exercise("ch06.generate_cached")
def check_generate_cached(generate_fn: object) -> bool:
    """Exercise 6: ``generate_fn(model, idx, max_new_tokens)``: greedy
    decoding of the GPT ``model`` from the prompt ``idx`` ``(B, T)`` with the
    KV cache: one call on the prompt with ``use_cache=True``, then one call
    per new token feeding only that token and the ``past_key_values`` of the
    call before. The prompt plus the new tokens fit in ``block_size``.
    Compared, token for token, with ``lm_course.sampling.generate(...,
    use_cache=True)``, and what the model is fed at each step is watched."""
    name = "Exercise 6 (greedy generation with the KV cache)"
    g = torch.Generator().manual_seed(66)
    cases = [(_toy_gpt(5, block_size=12), torch.randint(0, 13, (2, 3), generator=g), 8),
             (_toy_gpt(6, block_size=8), torch.randint(0, 13, (3, 1), generator=g), 7),
             (_toy_gpt(7, block_size=10), torch.randint(0, 13, (1, 5), generator=g), 1)]
    for model, idx, n in cases:
        want = generate(model, idx, n, use_cache=True)  # (B, T + n), greedy
        where = f"(prompt of shape {tuple(idx.shape)}, {n} new tokens)"
        got, fed = _feeds(model, generate_fn, idx, n)
        if not _tensor_like(got, want, name, "the prompt followed by the new tokens, (B, T + max_new_tokens),"):
            return False
        if not torch.equal(got.long(), want):
            for switches, hint in _CACHED_MISTAKES:
                if torch.equal(got.long(), generate_cached_reference(model, idx, n, **switches)):
                    return report(False, name, "", f"{hint} {where}")
            if any(T > 1 and P > 0 for T, P in fed):
                return report(False, name, "", f"with a cache, feed only the NEW token (idx[:, -1:], shape (B, 1)); "
                                               f"the cached positions are already in past_key_values. {where}")
            return report(False, name, "", f"other tokens than greedy generate with the cache {where}: take the "
                                           "argmax of out.logits[:, -1] at each step and append it to idx.")
        T0 = idx.size(1)
        if not fed:  # model.forward(...) called directly: hooks do not see it, the tokens are right
            continue
        if fed[0] != (T0, 0):
            return report(False, name, "", f"the first call should read the whole prompt ({T0} tokens) with no cache, "
                                           "model(idx, use_cache=True).")
        if all(T == 1 and P > 0 for T, P in fed[1:]) and [P for _, P in fed[1:]] != list(range(T0, T0 + len(fed) - 1)):
            return report(False, name, "", f"the cache does not grow (it held {[P for _, P in fed[1:]]} positions at "
                                           f"the steps): {_CACHED_MISTAKES[0][1]} {where}")
        if any(T > 1 for T, P in fed[1:]) or any(P == 0 for T, P in fed[1:]):
            return report(False, name, "", f"right tokens, but each step reran the model on more than the new token "
                                           f"(it was fed {[T for T, P in fed]} tokens): pass past_key_values and "
                                           f"only the newest token, so a step costs one position, not the whole "
                                           f"text. {where}")
    return report(True, name, "One pass over the prompt, then one position per new token: the same tokens as "
                              "lm_course.sampling.generate with use_cache=True.", "")
