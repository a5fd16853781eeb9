"""Checkers for chapter 6's decoding exercises (``06_gpt2_sampling.ipynb``): the decoding loop
(exercise 1) and one step of beam search (exercise 4).
"""

from __future__ import annotations

import torch

from lm_course.exercises._check import call, exercise, report
from lm_course.exercises.ch06_filters import _tensor_like
from lm_course.exercises.wrong_versions import from_switches
from lm_course.gpt import GPT, GPTConfig
from lm_course.sampling import generate

__all__ = ["check_generate", "check_beam_step", "generate_reference", "beam_step_reference"]


# ---- exercise 1: the decoding loop -----------------------------------------

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
    """Exercise 1's decoding loop: ``idx`` ``(B, T)`` continued by
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


@exercise("ch06.generate_loop", wrong=from_switches(generate_reference, _GENERATE_MISTAKES))
def check_generate(generate_fn: object) -> bool:
    """Exercise 1: ``generate_fn(model, idx, max_new_tokens, temperature, generator)``:
    sampling with a temperature, the context cropped to ``block_size``; the same
    tokens as ``lm_course.sampling.generate(..., do_sample=True, use_cache=False)``
    with the same seed."""
    name = "Exercise 1 (the decoding loop)"
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


# ---- exercise 4: one step of beam search ----------------------------------

def beam_step_reference(scores: torch.Tensor, logp: torch.Tensor, num_beams: int, *, add: str = "log",
                        per_beam: bool = False,
                        divide_by: str = "V") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


@exercise("ch06.beam_step", wrong=from_switches(beam_step_reference, _BEAM_MISTAKES))
def check_beam_step(beam_step: object) -> bool:
    """Exercise 4: ``beam_step(beam_scores, next_log_probs, num_beams)``: the
    ``num_beams`` best one-token extensions of ``K`` beams, as
    :func:`lm_course.sampling.beam_search` chooses them at every step; returns
    ``(scores, parents, tokens)``, each ``(num_beams,)``, best first."""
    name = "Exercise 4 (one step of beam search)"
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
