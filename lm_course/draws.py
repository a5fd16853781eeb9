"""The one seeding rule for sampling, and the draw of a token.

Explained in ``06_gpt2_sampling.ipynb``, section "Temperature" (and used by
every model's ``generate``, ``00_welcome.ipynb``, "One question, many
models"): :func:`sampling_generator` turns ``seed=`` / ``generator=`` into the
generator to draw from; :func:`draw_tokens` draws on that generator's device.
"""

from __future__ import annotations

import torch

from lm_course.validation import require_int

__all__ = ["sampling_generator", "draw_tokens"]


def sampling_generator(seed: int | None = None, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> torch.Generator | None:
    """The course's one seeding rule for sampling.

    ``seed=n``: a fresh ``torch.Generator`` seeded with ``n`` (the same sample
    every time), made on ``device`` (default the CPU; pass ``model.device``
    to draw where a GPU model's logits are); ``generator=g``: draw from ``g``
    (successive calls continue its stream); neither: ``None``, i.e. torch's
    global generator (so ``seed_everything`` makes a whole notebook
    repeatable). Both: an error. Wherever the generator lives,
    :func:`draw_tokens` draws on its device. Notebook sections:
    ``00_welcome.ipynb``, "One question, many models", and
    ``06_gpt2_sampling.ipynb``, "Temperature".
    """
    if seed is not None and generator is not None:
        raise ValueError("pass either seed or generator, not both")
    if seed is not None:
        seed = require_int(seed, "seed", type_error=True)
        return torch.Generator(device=torch.device("cpu" if device is None else device)).manual_seed(seed)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def draw_tokens(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``probs`` (``(V,)`` -> ``(1,)``, ``(B, V)`` ->
    ``(B, 1)``), on ``probs``' device.

    ``torch.multinomial`` needs its generator on the device of the
    probabilities, so the draw happens where ``generator`` is: a CPU generator
    (the playground's, ``torch.Generator().manual_seed(s)``) with a model on
    ``cuda`` moves the ``(B, V)`` probabilities to the CPU for the draw and the
    ids back, and gives the same ids as a CPU model with the same
    probabilities. Without a generator torch's global one on ``probs``' device
    draws. Notebook section: ``06_gpt2_sampling.ipynb``, "Temperature".
    """
    if generator is None or generator.device == probs.device:
        return torch.multinomial(probs, 1, generator=generator)  # (B, 1) or (1,)
    drawn = torch.multinomial(probs.to(generator.device), 1, generator=generator)  # on the generator's device
    return drawn.to(probs.device)  # (B, 1) or (1,)
