"""A toy task where learned attention can be read: reverse (or copy) a short
sequence of symbols.

Explained in ``04_attention.ipynb`` ("A toy task: learning to reverse").

To output the symbol that belongs at position ``i`` of the reversed sequence,
a model must fetch the input symbol at position ``T - 1 - i``. The model here
is nothing but token embeddings, positional encodings, attention layers and a
linear read-out, so the only way to move a symbol is through attention: after
training, the attention map of a single layer is the anti-diagonal (the
diagonal for copying). Without positional encodings attention cannot tell
positions apart (it is permutation-equivariant): each output is a function of
its own symbol and of the set of input symbols, so reversal cannot be learned,
but copying (which commutes with any shuffle) still can, by matching content.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_course.attention import MultiHeadAttention, sinusoidal_positional_encoding
from lm_course.device import resolve_device
from lm_course.interface import inference, inference_method
from lm_course.tokenizers import CharTokenizer
from lm_course.validation import require_positive

__all__ = ["ToyConfig", "ToyOutput", "ToyAttentionModel", "ToyAccuracy", "SYMBOLS", "make_batch",
           "train_toy", "toy_accuracy", "target_positions", "attention_on_targets"]

SYMBOLS = "abcdefghijklmnopqrstuvwxyz"
TASKS = ("reverse", "copy")
POSITIONS = ("sinusoidal", "learned", "none")


@dataclass(frozen=True)
class ToyConfig:
    task: str = "reverse"  # "reverse" or "copy": what the output sequence is
    seq_len: int = 8  # symbols per sequence (the model only handles this length)
    n_symbols: int = 10  # alphabet size: the first n_symbols letters a, b, c, ...
    d_model: int = 32  # width of the embeddings and of every attention layer
    n_heads: int = 1  # attention heads per layer
    n_layers: int = 1  # attention layers, one after the other
    positions: str = "learned"  # "learned", "sinusoidal" (Vaswani et al. 2017) or "none"

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")
        for name in ("seq_len", "n_symbols", "d_model", "n_heads", "n_layers"):
            require_positive(getattr(self, name), name)
        if not 2 <= self.n_symbols <= len(SYMBOLS):
            raise ValueError(f"n_symbols must be between 2 and {len(SYMBOLS)}, got {self.n_symbols}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


@dataclass
class ToyOutput:
    logits: torch.Tensor  # (B, T, n_symbols)
    attentions: tuple[torch.Tensor, ...] | None = None  # with output_attentions: per layer (B, n_heads, T, T)


@dataclass(frozen=True)
class ToyAccuracy:
    symbols: float  # fraction of output symbols that are right
    sequences: float  # fraction of sequences with every symbol right


def target_positions(config: ToyConfig) -> torch.Tensor:
    """For each output position, the input position it must read: ``(T,)``."""
    idx = torch.arange(config.seq_len)  # (T,)
    return idx.flip(0) if config.task == "reverse" else idx


def make_batch(config: ToyConfig, batch_size: int,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random symbol sequences ``x`` and their targets ``y``, both ``(B, T)`` ids."""
    batch_size = require_positive(batch_size, "batch_size")
    x = torch.randint(config.n_symbols, (batch_size, config.seq_len), generator=generator)  # (B, T)
    y = x[:, target_positions(config)]  # (B, T)
    return x, y


class ToyAttentionModel(nn.Module):
    """Embeddings + positions -> ``n_layers`` multi-head attention layers ->
    linear read-out of the symbol at each position.

    No MLP, no residual connection: every symbol that reaches the output went
    through attention, so the attention maps say exactly where it came from.
    """

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        self.tokenizer = CharTokenizer(SYMBOLS[: config.n_symbols])
        self.tok_emb = nn.Embedding(config.n_symbols, config.d_model)
        if config.positions == "learned":
            self.pos_emb = nn.Parameter(0.5 * torch.randn(config.seq_len, config.d_model))  # (T, C)
        elif config.positions == "sinusoidal":
            self.register_buffer("pos_emb", sinusoidal_positional_encoding(config.seq_len, config.d_model))  # (T, C)
        else:
            self.pos_emb = None
        self.layers = nn.ModuleList(MultiHeadAttention(config.d_model, config.n_heads)
                                    for _ in range(config.n_layers))
        self.read_out = nn.Linear(config.d_model, config.n_symbols)

    def forward(self, x: torch.Tensor, output_attentions: bool = False) -> ToyOutput:
        """``x`` is ``(B, T)`` symbol ids with ``T == config.seq_len``."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(f"expected a (B, {self.config.seq_len}) tensor of symbol ids (torch.long), got "
                             f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
        if x.size(1) != self.config.seq_len:
            raise ValueError(f"this model handles sequences of exactly {self.config.seq_len} symbols, "
                             f"got {x.size(1)}")
        if x.numel() and (x.min() < 0 or x.max() >= self.config.n_symbols):
            raise ValueError(f"symbol ids must be in 0..{self.config.n_symbols - 1}")
        h = self.tok_emb(x)  # (B, T, C)
        if self.pos_emb is not None:
            h = h + self.pos_emb  # (B, T, C)
        weights = []
        for layer in self.layers:
            h, w = layer(h)  # (B, T, C), (B, H, T, T)
            weights.append(w)
        logits = self.read_out(h)  # (B, T, n_symbols)
        return ToyOutput(logits, tuple(weights) if output_attentions else None)

    def encode(self, text: str) -> torch.Tensor:
        """A string of symbols (``"abcdefgh"``) as a ``(1, T)`` batch of ids."""
        return torch.tensor([self.tokenizer.encode(text)])  # (1, T)

    @inference_method
    def predict(self, text: str) -> str:
        """The model's output for one sequence of symbols, as a string."""
        ids = self(self.encode(text)).logits.argmax(-1)[0]  # (T,)
        return self.tokenizer.decode(ids.tolist())


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run on one CPU thread. The toy's matrices are tiny, so extra threads
    cost more in synchronisation than they save: on a busy 2-core machine
    training was 10 times slower with two threads than with one."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def train_toy(config: ToyConfig = ToyConfig(), steps: int = 600, batch_size: int = 64, lr: float = 1e-2,
              seed: int = 0, progress: bool = True, device: str | None = None,
              ) -> tuple[ToyAttentionModel, list[float]]:
    """Train a fresh :class:`ToyAttentionModel` with Adam on fresh random
    batches; returns the model (in eval mode, on the CPU) and the loss of every step.

    Seeded: the same arguments give the same model on the same versions.
    Trains on ``device`` (``None``: :func:`lm_course.device.get_device`, as
    every trainer of the course; on the CPU with one thread, since the model
    is far too small to gain from more), and hands the model back on the CPU.
    """
    steps = require_positive(steps, "steps")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    from tqdm.auto import tqdm

    torch.manual_seed(seed)
    model = ToyAttentionModel(config)  # built on the CPU: the same initial weights on every device
    gen = torch.Generator().manual_seed(seed)  # the batches, drawn on the CPU
    device = resolve_device(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)
    losses = []
    model.train()
    try:
        with _one_thread():
            for _ in tqdm(range(steps), desc=f"training ({config.task})", disable=not progress, leave=False):
                x, y = (t.to(device) for t in make_batch(config, batch_size, gen))  # (B, T), (B, T)
                logits = model(x).logits  # (B, T, V)
                loss = F.cross_entropy(logits.reshape(-1, config.n_symbols), y.reshape(-1))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
    finally:  # back on the CPU, also after an error or Ctrl-C
        model.to("cpu")
    model.eval()
    return model, losses


@torch.no_grad()
def toy_accuracy(model: ToyAttentionModel, n: int = 2000, seed: int = 1234) -> ToyAccuracy:
    """Accuracy on ``n`` fresh random sequences (a seed the training never used)."""
    n = require_positive(n, "n")
    x, y = make_batch(model.config, n, torch.Generator().manual_seed(seed))  # (n, T) each
    with inference(model):
        correct = model(x).logits.argmax(-1) == y  # (n, T)
    return ToyAccuracy(symbols=correct.float().mean().item(), sequences=correct.all(dim=1).float().mean().item())


@torch.no_grad()
def attention_on_targets(model: ToyAttentionModel, layer: int = -1, n: int = 500, seed: int = 4321) -> float:
    """Mean attention weight (over sequences and heads) that each output
    position puts on the input position it must read, in ``layer``: 1.0 is a
    perfect (anti-)diagonal, ``1 / T`` is uniform attention."""
    x, _ = make_batch(model.config, n, torch.Generator().manual_seed(seed))  # (n, T)
    with inference(model):
        w = model(x, output_attentions=True).attentions[layer]  # (n, H, T, T)
    T = model.config.seq_len
    return w[..., torch.arange(T), target_positions(model.config)].mean().item()
