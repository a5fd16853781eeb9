"""The course's finale: a GPT made of the student's own exercise solutions (``08_your_gpt.ipynb``).

Every exercise the student passes saves their function's source in the course
cache (:mod:`lm_course.exercises.tracking`). :func:`load_pieces` reads those
files back, in chapter order, into one namespace (so a piece may call an
earlier one, as a student's block calls their LayerNorm); :class:`YourGPT`
then runs a GPT whose every step is one of those functions, fed with the
weights of a trained model (the course's reference GPT, or GPT-2):

    ========================  =====================================================
    piece (exercise)          where it runs
    ========================  =====================================================
    ch05.layer_norm           every LayerNorm: ln_1, ln_2 of each block, ln_f
    ch05.gelu                 the MLP's activation
    ch04.split_merge_heads    channels into heads (after c_attn), heads back (before c_proj)
    ch04.causal_mask_with_cache  the causal mask, also for a window after cached keys
    ch04.masked_attention     attention over the whole window (and the prompt, with a cache)
    ch06.attention_step       one new token's attention with the KV cache
    ch06.generate_loop        sampling
    ========================  =====================================================

A piece the student has not passed yet is the package's, and
:meth:`Pieces.table` says which is which. The embeddings, the linear maps
(``c_attn``, ``c_proj``, ``c_fc``, ``lm_head``) are plain matrix products of
the loaded weights. The student's saved code is their own, from their own
cache, run as their notebook ran it: nothing else is executed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from lm_course.attention import causal_mask, scaled_dot_product_attention

__all__ = ["PIECES", "WHOLE", "Pieces", "load_pieces", "load_whole", "YourGPT", "greedy", "SCORED",
           "put_on_scoreboard"]

#: exercise key -> (the functions it defines, what they do in the model)
PIECES: dict[str, tuple[tuple[str, ...], str]] = {
    "ch05.layer_norm": (("layer_norm",), "every LayerNorm (ln_1, ln_2, ln_f)"),
    "ch05.gelu": (("gelu",), "the MLP's activation"),
    "ch04.split_merge_heads": (("split_heads", "merge_heads"), "channels into heads and back"),
    "ch04.causal_mask_with_cache": (("causal_mask_with_cache",), "the causal mask"),
    "ch04.masked_attention": (("masked_attention",), "attention over a window"),
    "ch06.attention_step": (("attention_step",), "one token's attention with the KV cache"),
    "ch06.generate_loop": (("generate_loop",), "sampling"),
}


# ---------------------------------------------------------------- the package's pieces (same signatures)

def _layer_norm(x, gain, bias, eps=1e-5):
    return F.layer_norm(x, x.shape[-1:], gain, bias, eps)


def _gelu(x):
    return F.gelu(x, approximate="tanh")


def _split_heads(x, n_heads):
    B, T, C = x.shape
    return x.view(B, T, n_heads, C // n_heads).transpose(1, 2)  # (B, nh, T, hs)


def _merge_heads(y):
    B, nh, T, hs = y.shape
    return y.transpose(1, 2).reshape(B, T, nh * hs)  # (B, T, C)


def _causal_mask_with_cache(T, S):
    return causal_mask(T, S)  # (T, S)


def _masked_attention(q, k, v, mask=None):
    return scaled_dot_product_attention(q, k, v, mask)


def _attention_step(q, k_new, v_new, k_cache, v_cache):
    k_all = torch.cat([k_cache, k_new], dim=2)  # (B, H, P+1, D)
    v_all = torch.cat([v_cache, v_new], dim=2)  # (B, H, P+1, D)
    out, _ = scaled_dot_product_attention(q, k_all, v_all)  # (B, H, 1, D): the newest token sees every key
    return out, k_all, v_all


def _generate_loop(model, idx, max_new_tokens, temperature=1.0, generator=None):
    for _ in range(max_new_tokens):
        logits = model(idx[:, -model.config.block_size:]).logits[:, -1, :] / temperature  # (B, V)
        nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)  # (B, T+1)
    return idx


PACKAGE: dict[str, Callable] = {
    "layer_norm": _layer_norm, "gelu": _gelu, "split_heads": _split_heads, "merge_heads": _merge_heads,
    "causal_mask_with_cache": _causal_mask_with_cache, "masked_attention": _masked_attention,
    "attention_step": _attention_step, "generate_loop": _generate_loop,
}


@dataclass
class Pieces:
    """The functions YourGPT runs, and whose each one is."""

    fn: dict[str, Callable] = field(default_factory=lambda: dict(PACKAGE))
    yours: dict[str, bool] = field(default_factory=dict)  # exercise key -> the student's?
    problems: dict[str, str] = field(default_factory=dict)  # exercise key -> why the saved file was not used

    def table(self) -> str:
        """One line per piece: yours or the package's (and why, when a saved file could not be used)."""
        lines = []
        for key, (names, role) in PIECES.items():
            who = "yours" if self.yours.get(key) else "the package's"
            why = f" ({self.problems[key]})" if key in self.problems else ""
            lines.append(f"{'✅' if self.yours.get(key) else '·'} {', '.join(names):<32} {role:<42} {who}{why}")
        return "\n".join(lines)

    @property
    def all_yours(self) -> bool:
        return all(self.yours.get(key) for key in PIECES)


def load_pieces(folder: Path | None = None) -> Pieces:
    """The student's saved solutions (``<cache>/exercises/solutions``), in chapter order, in one namespace.

    A piece whose file is missing, does not run, or does not define its
    functions stays the package's, with the reason in ``problems``.
    """
    from lm_course.exercises.tracking import solution_file

    pieces = Pieces()
    namespace: dict = {"torch": torch, "F": F, "nn": torch.nn, "math": math}
    for key in sorted(PIECES, key=lambda k: (k[:4], list(PIECES).index(k))):
        names, _ = PIECES[key]
        path = (folder / f"{key}.py") if folder is not None else solution_file(key)
        if not path.is_file():
            continue
        try:
            code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
            exec(code, namespace)  # the student's own code, saved from their own notebook
        except Exception as err:  # their code may fail in any way: fall back, and say why
            pieces.problems[key] = f"your saved {path.name} does not run: {type(err).__name__}: {err}"
            continue
        missing = [n for n in names if not callable(namespace.get(n))]
        if missing:
            pieces.problems[key] = f"{path.name} defines no {', '.join(missing)}"
            continue
        pieces.fn.update({n: namespace[n] for n in names})
        pieces.yours[key] = True
    return pieces


@dataclass
class _Output:
    logits: torch.Tensor  # (B, T, V)


class YourGPT:
    """A GPT forward pass in which every step is one of ``pieces``, over the weights of ``model``
    (any :class:`lm_course.gpt.GPT`: the reference GPT, or GPT-2 loaded by ``GPT.from_pretrained``).

    ``your_gpt(idx)`` gives an object with ``.logits`` (B, T, V), like the
    package's GPT, so the student's ``generate_loop`` can drive it;
    :meth:`forward_cached` runs with a KV cache (the student's
    ``attention_step`` for one new token).
    """

    def __init__(self, model, pieces: Pieces, dtype: torch.dtype | None = None):
        self.config = model.config
        self.vocab_size = model.config.vocab_size
        self.context_length = model.config.block_size
        self.device = torch.device("cpu")
        state = model.state_dict()
        dtype = dtype or state["transformer.wte.weight"].dtype
        self.w = {k: v.detach().to("cpu", dtype) for k, v in state.items()}  # name -> weight
        self.f = pieces.fn
        self.dtype = dtype

    # ------------------------------------------------------------------ the pieces in order
    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        y = x @ self.w[f"{name}.weight"].T  # (..., out)
        bias = self.w.get(f"{name}.bias")
        return y if bias is None else y + bias

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return self.f["layer_norm"](x, self.w[f"{name}.weight"], self.w.get(f"{name}.bias",
                                    torch.zeros_like(self.w[f"{name}.weight"])), 1e-5)

    def _qkv(self, x: torch.Tensor, layer: int):
        C, nh = self.config.n_embd, self.config.n_head
        q, k, v = self._linear(self._ln(x, f"transformer.h.{layer}.ln_1"),
                               f"transformer.h.{layer}.attn.c_attn").split(C, dim=2)  # 3 x (B, T, C)
        return tuple(self.f["split_heads"](t, nh) for t in (q, k, v))  # 3 x (B, nh, T, hs)

    def _finish_block(self, x: torch.Tensor, y: torch.Tensor, layer: int) -> torch.Tensor:
        p = f"transformer.h.{layer}"
        x = x + self._linear(self.f["merge_heads"](y), f"{p}.attn.c_proj")  # (B, T, C)
        h = self.f["gelu"](self._linear(self._ln(x, f"{p}.ln_2"), f"{p}.mlp.c_fc"))  # (B, T, 4C)
        return x + self._linear(h, f"{p}.mlp.c_proj")  # (B, T, C)

    def _embed(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        T = idx.shape[1]
        if start + T > self.context_length:
            raise ValueError(f"positions {start}..{start + T - 1} go past the context of {self.context_length}")
        pos = torch.arange(start, start + T)  # (T,)
        return self.w["transformer.wte.weight"][idx] + self.w["transformer.wpe.weight"][pos]  # (B, T, C)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self._ln(x, "transformer.ln_f")  # (B, T, C)
        head = self.w.get("lm_head.weight", self.w["transformer.wte.weight"])  # tied in GPT-2
        return x @ head.T  # (B, T, V)

    # ------------------------------------------------------------------ forward passes
    def __call__(self, idx: torch.Tensor) -> _Output:
        """Logits (B, T, V) for token ids idx (B, T), T <= the context length: no cache."""
        return _Output(self.forward_cached(idx, None)[0])

    def forward_cached(self, idx: torch.Tensor, cache: list | None):
        """``(logits (B, T, V), cache)``. ``cache`` is None (start) or what the last call returned:
        one ``(k, v)`` pair (B, nh, P, hs) per layer. One new token uses ``attention_step``; a longer
        input (the prompt) uses ``masked_attention`` with the causal mask after the cached keys."""
        idx = torch.as_tensor(idx)
        P = 0 if cache is None else cache[0][0].shape[2]
        x = self._embed(idx, P).to(self.dtype)  # (B, T, C)
        T = idx.shape[1]
        new_cache = []
        for layer in range(self.config.n_layer):
            q, k, v = self._qkv(x, layer)  # (B, nh, T, hs) each
            if cache is not None and T == 1:
                y, k_all, v_all = self.f["attention_step"](q, k, v, *cache[layer])  # (B, nh, 1, hs)
            else:
                k_all = k if cache is None else torch.cat([cache[layer][0], k], dim=2)  # (B, nh, S, hs)
                v_all = v if cache is None else torch.cat([cache[layer][1], v], dim=2)  # (B, nh, S, hs)
                mask = self.f["causal_mask_with_cache"](T, P + T)  # (T, S)
                y, _ = self.f["masked_attention"](q, k_all, v_all, mask)  # (B, nh, T, hs)
            new_cache.append((k_all, v_all))
            x = self._finish_block(x, y, layer)  # (B, T, C)
        return self._logits(x), new_cache

    token_log_probs = None  # set below: the package's windowed scoring, over this forward pass


def _bind_scoring() -> None:
    from lm_course.gpt import GPT

    YourGPT.token_log_probs = GPT.token_log_probs  # only needs vocab_size, context_length, device, self(x).logits


_bind_scoring()


def greedy(model: YourGPT, idx: torch.Tensor, max_new_tokens: int, use_cache: bool) -> torch.Tensor:
    """Greedy decoding with ``model``: (B, T) -> (B, T + max_new_tokens).

    With the cache each new token costs one position (the student's
    ``attention_step``); once the text fills the context window, the cache is
    rebuilt from the last ``block_size`` tokens at every step, as
    ``lm_course.sampling.generate`` does (positions cannot go past the window).
    """
    W = model.context_length
    cache, logits = None, None
    for _ in range(max_new_tokens):
        if not use_cache:
            logits = model(idx[:, -W:]).logits
        elif cache is None or idx.shape[1] > W:
            logits, cache = model.forward_cached(idx[:, -W:], None)
            if idx.shape[1] >= W:
                cache = None  # full window: the next step starts again from the cropped text
        else:
            logits, cache = model.forward_cached(idx[:, -1:], cache)
        nxt = logits[:, -1, :].argmax(dim=-1, keepdim=True)  # (B, 1)
        idx = torch.cat([idx, nxt], dim=1)  # (B, T+1)
    return idx


#: characters of each split the finale scores (the whole splits would take minutes in the student's code)
SCORED = 20_000


def put_on_scoreboard(val_bpc: float, test_bpc: float, pieces: Pieces):
    """Record "your GPT" (chapter 8) in this copy's scoreboard, never in the committed one
    (``reference=False``: it is the reader's own); returns the board."""
    from lm_course import scoreboard

    mine = sum(bool(pieces.yours.get(key)) for key in PIECES)
    notes = (f"the reference GPT's weights run by your pieces ({mine} of {len(PIECES)} yours); "
             f"the first {SCORED:,} characters of each split")
    return scoreboard.record("your GPT", val_bpc, test_bpc, chapter=8, notes=notes, reference=False)


#: exercises whose function runs a whole model (the package's GPT): exercise key -> the function's name
WHOLE: dict[str, str] = {"ch05.gpt_forward": "gpt_forward", "ch06.generate_cached": "generate_cached"}


def load_whole(folder: Path | None = None) -> dict[str, Callable]:
    """The student's saved ``gpt_forward`` and ``generate_cached`` (name -> function), those that were
    saved and still run; each is loaded alone, with ``torch``, ``F``, ``nn`` and ``math`` at hand."""
    from lm_course.exercises.tracking import solution_file

    found = {}
    for key, name in WHOLE.items():
        path = (folder / f"{key}.py") if folder is not None else solution_file(key)
        if not path.is_file():
            continue
        namespace: dict = {"torch": torch, "F": F, "nn": torch.nn, "math": math}
        try:
            exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)  # the student's code
        except Exception:  # noqa: BLE001 (their code may fail in any way: the cell says it is not there)
            continue
        if callable(namespace.get(name)):
            found[name] = namespace[name]
    return found
