"""OpenAI's GPT-2 weights, in Hugging Face format, in and out of the course's GPT.

Explained in ``06_gpt2_sampling.ipynb``, section "Loading GPT-2 into our own
GPT" (and "The tutorials' generate(), side by side" for the export).

* :func:`read_gpt2_config` finds ``config.json`` and ``model.safetensors``
  in a local directory, or on the Hugging Face hub (``"gpt2"``,
  ``"gpt2-medium"``, ``"gpt2-large"``, ``"gpt2-xl"``, ``"distilgpt2"``, any
  GPT-2 repository; cached by ``huggingface_hub``), and :func:`load_gpt2_weights`
  puts the file's tensors into a model built from that config. Both are used
  by ``lm_course.gpt.GPT.from_pretrained``, the one way to load GPT-2: this
  module knows GPT-2's files, not the course's GPT class (it never imports
  :mod:`lm_course.gpt`, so the two modules form no import cycle).
* :func:`as_transformers` builds ``transformers``' ``GPT2LMHeadModel``
  around a course GPT's own tensors (no second copy of the weights).
* :func:`download` caches a hub model ahead of time
  (``python -m lm_course download gpt2``) for a classroom without network.
* :func:`save_hf_gpt2` writes a course GPT in the same format, so
  ``transformers.GPT2LMHeadModel.from_pretrained(directory)`` loads it.

The only real translation is GPT-2's ``Conv1D`` layers (``c_attn``,
``c_proj``, ``c_fc``): they store their weight as ``(in, out)``, while the
course's ``nn.Linear`` stores ``(out, in)``; we transpose them. Every other
tensor has the same name and shape on both sides (``h.0.ln_1.weight`` is
``transformer.h.0.ln_1.weight``). Only safetensors files are read: a pickled
``pytorch_model.bin`` could run arbitrary code when loaded.

Offline: the local cache is tried first, without network. When the weights
are not cached and the hub cannot be reached (or ``HF_HUB_OFFLINE=1`` /
``local_files_only=True``), :class:`GPT2WeightsUnavailable` is raised at
once, instead of retrying for half a minute.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn as nn
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lm_course import hub
from lm_course.fileio import atomic_write, atomic_write_text

if TYPE_CHECKING:  # annotations only: importing lm_course.gpt here would close an import cycle
    from lm_course.gpt import GPT, GPTConfig

__all__ = ["GPT2WeightsUnavailable", "GPT2Checkpoint", "read_gpt2_config", "load_gpt2_weights", "download",
           "save_hf_gpt2", "as_transformers", "gpt_config_fields", "hf_config_from_gpt"]

# GPT-2's Conv1D layers: stored (in, out), transposed into nn.Linear's (out, in)
_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# tensors in GPT-2 checkpoints that are not parameters (old causal-mask buffers)
_BUFFERS = re.compile(r"\.attn\.(bias|masked_bias)$")
# what `download` fetches: the weights, and the tokenizer so GPT-2's BPE works offline too
_HUB_FILES = ["config.json", "generation_config.json", "model.safetensors", "model.safetensors.index.json",
              "model-*.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
              "special_tokens_map.json"]


class GPT2WeightsUnavailable(hub.HubUnavailable):
    """The weights are not cached and the hub cannot be reached (offline)."""


class GPT2WeightsDamaged(GPT2WeightsUnavailable, ValueError):
    """A GPT-2 file is there but cannot be read (truncated, not JSON, NaN
    weights): unavailable all the same, so a chapter that falls back on
    :class:`GPT2WeightsUnavailable` falls back on it too, and a ``ValueError``
    for code that catches bad files. The message names the file and the fix."""


def _damaged(file: Path | str, why: str) -> GPT2WeightsDamaged:
    return GPT2WeightsDamaged(f"the GPT-2 file {file} is damaged ({why}); delete it and run "
                              "`python -m lm_course download gpt2` again (or restore the folder)")


# ---- configs ---------------------------------------------------------------

def gpt_config_fields(hf: dict, source: str = "config.json") -> dict:
    """The :class:`~lm_course.gpt.GPTConfig` fields (a dict) of a Hugging Face
    GPT-2 ``config.json``.

    Raises ``ValueError`` for another architecture or a GPT-2 variant the
    course's GPT does not compute (another activation, MLP width, LayerNorm
    epsilon or attention scaling).
    """
    kind = hf.get("model_type")
    if kind != "gpt2":
        raise ValueError(f"{source} describes a {kind!r} model, not GPT-2 (model_type 'gpt2'); "
                         "the course's GPT can only load GPT-2 checkpoints")
    n_embd = hf.get("n_embd", 768)
    unsupported = {
        "activation_function": (hf.get("activation_function", "gelu_new"), ("gelu_new", "gelu_pytorch_tanh")),
        "n_inner": (hf.get("n_inner"), (None, 4 * n_embd)),
        "layer_norm_epsilon": (hf.get("layer_norm_epsilon", 1e-5), (1e-5,)),
        "scale_attn_weights": (hf.get("scale_attn_weights", True), (True,)),
        "scale_attn_by_inverse_layer_idx": (hf.get("scale_attn_by_inverse_layer_idx", False), (False,)),
        "add_cross_attention": (hf.get("add_cross_attention", False), (False,)),
        "tie_word_embeddings": (hf.get("tie_word_embeddings", True), (True,)),
    }
    for key, (value, allowed) in unsupported.items():
        if value not in allowed:
            raise ValueError(f"{source}: {key}={value!r} is a GPT-2 variant the course's GPT does not "
                             f"implement (it supports {' or '.join(map(repr, allowed))})")
    return {"vocab_size": hf.get("vocab_size", 50257), "block_size": hf.get("n_positions", 1024),
            "n_layer": hf.get("n_layer", 12), "n_head": hf.get("n_head", 12), "n_embd": n_embd,
            "dropout": 0.0, "bias": True}


def hf_config_from_gpt(config: GPTConfig, eos_token_id: int | None = None) -> dict:
    """A Hugging Face ``config.json`` (as a dict) for a course GPT of ``config``."""
    if not config.bias:
        raise ValueError("GPT-2's format has biases everywhere; a GPTConfig with bias=False cannot be exported")
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": config.vocab_size, "n_positions": config.block_size, "n_layer": config.n_layer,
        "n_head": config.n_head, "n_embd": config.n_embd, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "resid_pdrop": config.dropout, "embd_pdrop": config.dropout, "attn_pdrop": config.attention_dropout,
        "scale_attn_weights": True, "tie_word_embeddings": True, "use_cache": True,
        "initializer_range": 0.02, "bos_token_id": eos_token_id, "eos_token_id": eos_token_id,
        "dtype": "float32",
    }


# ---- finding the files -----------------------------------------------------

def _unavailable(name: str, why: str) -> GPT2WeightsUnavailable:
    return GPT2WeightsUnavailable(
        f"GPT-2 weights {name!r} are not available: {why}. They are not in the local Hugging Face "
        f"cache either. On a machine with network run `python -m lm_course download {name}` once "
        "(it caches them), or pass a local directory holding config.json and model.safetensors.")


def _hub_file(repo_id: str, filename: str, local_files_only: bool | None) -> Path:
    """One file of a hub repository: from the cache if there, else downloaded."""
    from huggingface_hub import hf_hub_download  # deferred on purpose (here and below): the hub client loads
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(hf_hub_download(repo_id, filename, local_files_only=True))  # the cache: no network
    except LocalEntryNotFoundError:
        pass
    if hub.is_offline(local_files_only):
        raise _unavailable(repo_id, "offline mode (HF_HUB_OFFLINE=1 or local_files_only=True)") from None
    if not hub.hub_reachable():
        raise _unavailable(repo_id, "the Hugging Face hub cannot be reached (no network?)") from None
    try:
        return Path(hf_hub_download(repo_id, filename))
    except LocalEntryNotFoundError:  # the connection failed after all
        raise _unavailable(repo_id, "the download from the Hugging Face hub failed") from None
    except RepositoryNotFoundError:
        raise ValueError(f"{repo_id!r} is neither a local directory nor a model on the Hugging Face hub") from None
    except EntryNotFoundError:
        raise FileNotFoundError(f"the hub repository {repo_id!r} has no {filename}") from None


def _weight_files(config_file: Path, fetch) -> list[Path]:
    """The safetensors file(s) next to ``config_file``; ``fetch(name)`` gets one."""
    try:
        return [fetch("model.safetensors")]
    except FileNotFoundError:
        pass
    try:  # a sharded checkpoint: an index names the shards
        index_file = fetch("model.safetensors.index.json")
    except FileNotFoundError:
        pickled = (config_file.parent / "pytorch_model.bin").exists()
        raise FileNotFoundError(
            f"no model.safetensors next to {config_file}"
            + (" (only a pickled pytorch_model.bin, which the course does not load because unpickling can "
               "run code; convert it with transformers: GPT2LMHeadModel.from_pretrained(d).save_pretrained(d))"
               if pickled else "")) from None
    try:
        shards = sorted(set(json.loads(index_file.read_text())["weight_map"].values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as err:
        raise _damaged(index_file, f"{type(err).__name__}: {err}") from None
    files = []
    for name in shards:
        try:
            files.append(fetch(name))
        except FileNotFoundError:
            raise FileNotFoundError(f"{index_file} names the shard {name}, which is missing; "
                                    "download the whole checkpoint again") from None
    return files


def _locate(name_or_path: str | os.PathLike, local_files_only: bool | None) -> tuple[Path, list[Path]]:
    """``(config.json, [safetensors files])`` of a local directory or hub repository."""
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise FileNotFoundError(f"{path} has no config.json: not a Hugging Face model directory")

        def fetch(name: str) -> Path:
            if not (path / name).is_file():
                raise FileNotFoundError(f"{path / name} does not exist")
            return path / name

        return config_file, _weight_files(config_file, fetch)
    if path.exists():
        raise ValueError(f"{path} is a file; pass the directory that holds config.json and model.safetensors")
    if text.startswith((".", "/", "~")) or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", text):
        raise FileNotFoundError(f"no directory {path} (and {text!r} is not a hub model name such as 'gpt2')")
    config_file = _hub_file(text, "config.json", local_files_only)
    return config_file, _weight_files(config_file, lambda name: _hub_file(text, name, local_files_only))


# ---- loading ---------------------------------------------------------------

def _read_checkpoint(files: list[Path], model, source: str) -> dict[str, torch.Tensor]:
    """Checkpoint tensors renamed to the model's names, Conv1D weights as
    transposed views (``(out, in)`` over the file's ``(in, out)`` storage),
    shapes checked; raises ``ValueError`` naming what is wrong."""
    expected = model.state_dict()  # names and shapes (tensors on the meta device)
    state: dict[str, torch.Tensor] = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as f:
                keys = list(f.keys())
        except (SafetensorError, OSError) as err:
            raise _damaged(file, f"not a readable safetensors file: {err}") from None
        for key in keys:
            name = key if key.startswith(("transformer.", "lm_head.")) else "transformer." + key
            if _BUFFERS.search(name):
                continue
            # one memory map per tensor, closed at once, and a copy that does not point into it: otherwise
            # the file's pages stay mapped beside the copies (GPT-2 small: ~400 MB more resident memory)
            with safe_open(str(file), framework="pt") as f:
                tensor = f.get_tensor(key).clone()
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise _damaged(file, f"the tensor {key!r} holds NaN or inf")
            if name.endswith(_CONV1D):  # GPT-2's (in, out) storage, viewed as nn.Linear's (out, in):
                tensor = tensor.t()  # no copy, and a faster one-token step (lm_course.gpt, fast decoding step 4)
            if name not in expected:
                raise ValueError(f"{source}: unexpected tensor {key!r}; not a GPT-2 checkpoint?")
            if tensor.shape != expected[name].shape:
                raise ValueError(f"{source}: {name} has shape {tuple(tensor.shape)} but the model built "
                                 f"from config.json expects {tuple(expected[name].shape)}")
            state[name] = tensor.to(expected[name].dtype)
    head = state.pop("lm_head.weight", None)
    if head is not None and not torch.equal(head, state.get("transformer.wte.weight", head)):
        raise ValueError(f"{source}: lm_head.weight differs from the token embedding; the course's GPT "
                         "ties them (as GPT-2 does) and cannot load an untied head")
    missing = sorted(set(expected) - set(state) - {"lm_head.weight"})
    if missing:
        raise ValueError(f"{source}: the checkpoint lacks {len(missing)} tensor(s), e.g. {missing[:3]}")
    state["lm_head.weight"] = state["transformer.wte.weight"]
    return state


class GPT2Checkpoint(NamedTuple):
    """What :func:`read_gpt2_config` found: the ``GPTConfig`` fields, the
    weight files, and the name or path they came from (for error messages)."""

    config: dict  # GPTConfig fields (gpt_config_fields)
    files: list[Path]  # model.safetensors, or the shards of a sharded checkpoint
    source: str  # the name_or_path asked for


def read_gpt2_config(name_or_path: str | os.PathLike = "gpt2", local_files_only: bool | None = None
                     ) -> GPT2Checkpoint:
    """The config and weight files of a GPT-2 checkpoint: ``name_or_path`` is
    a local directory (``config.json`` + ``model.safetensors``) or a hub name
    (``"gpt2"`` ... ``"gpt2-xl"``). ``GPT.from_pretrained`` builds the model
    from ``.config`` and fills it with :func:`load_gpt2_weights`.

    Raises:
        GPT2WeightsUnavailable: a hub name that is not cached, while offline.
        FileNotFoundError: a directory without config.json / model.safetensors.
        ValueError: not a GPT-2 checkpoint (or a variant the course's GPT does
            not compute).
        GPT2WeightsDamaged: config.json is not JSON, or a weight file cannot
            be read (a ``GPT2WeightsUnavailable`` and a ``ValueError``).
    """
    config_file, files = _locate(name_or_path, local_files_only)
    source = os.fspath(name_or_path)
    try:
        hf = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _damaged(config_file, f"not valid JSON: {err}") from None
    return GPT2Checkpoint(gpt_config_fields(hf, f"{source}/config.json"), files, source)


def load_gpt2_weights(model: GPT, checkpoint: GPT2Checkpoint) -> GPT:
    """``model`` (a course GPT built from ``checkpoint.config``, best on the
    meta device: no time spent on a random initialisation) holding the
    checkpoint's tensors, its head tied to the token embedding, in eval mode
    (on the CPU, float32). Returns ``model``.

    Raises ``ValueError`` when a tensor is missing, unexpected or of another
    shape than the model's, or the head is not tied.
    """
    model.load_state_dict(_read_checkpoint(checkpoint.files, model, checkpoint.source), assign=True)
    model.lm_head.weight = model.transformer.wte.weight  # re-tie: one tensor, two roles
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"GPT has tensors the checkpoint does not set: {leftover[:3]}")
    return model.eval()


def download(name: str = "gpt2") -> Path:
    """Cache a hub model's weights, config and tokenizer files for offline use;
    returns the local snapshot directory. Needs network (once)."""
    from huggingface_hub import snapshot_download

    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"download takes a hub model name such as 'gpt2', got {name!r}")
    if Path(name).expanduser().exists():
        raise ValueError(f"{name!r} is a local path; download takes a hub model name such as 'gpt2'")
    if hub.is_offline(None) or not hub.hub_reachable():
        raise GPT2WeightsUnavailable(f"cannot download {name!r}: the Hugging Face hub cannot be reached "
                                     "(offline, or HF_HUB_OFFLINE=1)")
    try:
        directory = Path(snapshot_download(name, allow_patterns=_HUB_FILES))
    except RepositoryNotFoundError:
        raise ValueError(f"{name!r} is not a model on the Hugging Face hub") from None
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:  # a dead proxy, a dropped connection
        proxy = [v for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(v)]
        raise GPT2WeightsUnavailable(
            f"cannot download {name!r}: {str(err).splitlines()[0][:200]}"
            + (f" (through the proxy in {proxy[0]}={os.environ[proxy[0]]}: is it running?)" if proxy else "")
        ) from None
    hf = json.loads((directory / "config.json").read_text())
    gpt_config_fields(hf, f"{name}/config.json")  # refuse early what GPT.from_pretrained would refuse
    return directory


# ---- saving in Hugging Face format ----------------------------------------

def save_hf_gpt2(model: GPT, directory: str | os.PathLike, eos_token_id: int | None = None) -> Path:
    """Write ``model`` (a course GPT) as a Hugging Face GPT-2 directory:
    ``config.json`` and ``model.safetensors`` (Conv1D weights transposed, the
    tied head left out, as ``save_pretrained`` does). Then
    ``GPT2LMHeadModel.from_pretrained(directory)`` and ``GPT.from_pretrained`` both
    load it. ``eos_token_id`` is GPT-2's 50256 for its own vocabulary; leave it
    ``None`` for the character models, which have no end-of-text token."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = hf_config_from_gpt(model.config, eos_token_id)
    tensors = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            continue  # tied to transformer.wte.weight
        tensor = tensor.detach().float().cpu()
        tensors[name] = (tensor.t() if name.endswith(_CONV1D) else tensor).contiguous()
    with atomic_write(directory / "model.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    atomic_write_text(directory / "config.json", json.dumps(config, indent=2) + "\n")
    return directory


def as_transformers(model: GPT, eos_token_id: int | None = None):
    """``transformers``' ``GPT2LMHeadModel`` computing with the very tensors
    of the course GPT ``model``: no copy (the Conv1D weights are transposed
    views of ours), so both libraries can run side by side in one model's
    memory, 500 MB instead of 1 GB for GPT-2 small
    (``06_gpt2_sampling.ipynb``, "The tutorials' generate(), side by side").
    Changing either model's weights changes both. ``eos_token_id``: as
    :func:`save_hf_gpt2`. Returns the model in eval mode.

    Raises:
        TypeError: ``model`` is not a course GPT.
    """
    from transformers import GPT2Config, GPT2LMHeadModel  # deferred on purpose: seconds to import, tests only

    config = getattr(model, "config", None)
    if not isinstance(model, nn.Module) or not hasattr(config, "attention_dropout"):  # GPTConfig's property
        raise TypeError(f"as_transformers expects a course GPT, got {type(model).__name__}")
    with torch.device("meta"):  # no time or memory spent on a random initialisation
        hf = GPT2LMHeadModel(GPT2Config(**hf_config_from_gpt(model.config, eos_token_id)))
    state = {name: (tensor.t() if name.endswith(_CONV1D) else tensor)  # (out, in) viewed as Conv1D's (in, out)
             for name, tensor in model.state_dict().items()}
    hf.load_state_dict(state, assign=True)
    hf.lm_head.weight = hf.transformer.wte.weight  # re-tie: one tensor, two roles
    leftover = [n for n, t in [*hf.named_parameters(), *hf.named_buffers()] if t.is_meta]
    if leftover:
        raise RuntimeError(f"GPT2LMHeadModel has tensors the course GPT does not set: {leftover[:3]}")
    return hf.eval()
