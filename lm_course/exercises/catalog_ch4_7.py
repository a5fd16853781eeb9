"""The exercises of chapters 4 to 7 (``04_attention.ipynb`` .. ``07_finetuning.ipynb``), one
:func:`~.exercise_row.row` each: key, number, title, checker, difficulty, importance, minutes, what is
checked, three hints, needs.
"""

from __future__ import annotations

from lm_course.exercises.exercise_row import Exercise, row

__all__ = ["ROWS"]

ROWS: tuple[Exercise, ...] = (
    # ------------------------------------------------------------------ chapter 4
    row("ch04.window_mask", 1, "a sliding-window mask", "check_window_mask", 2, 3, 10,
        "5 (T, w) pairs, w = 1 and w > T included, against the exact mask",
        "Query t may see itself and the w - 1 keys just before it, nothing in the future.",
        "Compare a column of query indices (T, 1) with a row of key indices (1, T): allowed when key <= query "
        "and query - key < w. Return a (T, T) bool tensor.",
        "t = torch.arange(T); return (t[None, :] <= t[:, None]) & (t[:, None] - t[None, :] < w)"),
    row("ch04.masked_attention", 2, "attention with a mask", "check_masked_attention", 2, 5, 15,
        "5 shapes (T != S, d_k != d_v, a query with no allowed key, one random) against "
        "scaled_dot_product_attention",
        "Attention is a softmax over the keys of scaled dot products; the mask removes keys before the softmax.",
        "scores (..., T, S) = q @ k^T / sqrt(d_k); where the mask is False set -inf; softmax over the last dim; "
        "a row that is all -inf gives NaN: make it zeros; output = weights @ v (..., T, d_v).",
        "scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)); if mask is not None: scores = "
        "scores.masked_fill(~mask, float('-inf')); w = torch.nan_to_num(scores.softmax(-1), nan=0.0); "
        "return w @ v, w"),
    row("ch04.causal_mask_with_cache", 3, "a causal mask with a cache", "check_causal_mask", 2, 4, 10,
        "6 (T, S) pairs, T = S and T < S, against lm_course.attention.causal_mask",
        "The T queries are the LAST T of S positions: the first S - T keys are the cache, in everyone's past.",
        "Query t sits at position t + S - T, so it may see keys 0 .. t + S - T: a lower triangle of a (T, S) "
        "bool matrix, shifted right by S - T.",
        "query t is position t + (S - T) of the sequence: it may see keys 0 .. t + S - T "
        "(torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T))."),
    row("ch04.split_merge_heads", 4, "splitting and merging heads", "check_split_merge_heads", 2, 4, 10,
        "4 shapes (one head, one time step) against MultiHeadAttention's split, and merge(split(x)) = x",
        "Each head takes its own slice of the features at every time step; merging puts the slices side by "
        "side again.",
        "split: (B, T, C) -> (B, T, n_heads, d_head) -> (B, n_heads, T, d_head). merge: the reverse, with a "
        "reshape (the transposed tensor is not contiguous, so view would fail).",
        "split: x.view(B, T, n_heads, C // n_heads).transpose(1, 2); merge: y.transpose(1, 2).reshape(B, T, "
        "n_heads * d_head)"),
    row("ch04.mha_forward", 5, "multi-head attention", "check_multi_head_attention", 3, 5, 20,
        "4 shapes (with and without the causal mask, one random) against MultiHeadAttention",
        "Project, cut the width into heads that attend separately, glue the heads back, mix them with a last "
        "projection.",
        "q, k, v = the three projections of x, each (B, T, d_model) -> (B, n_heads, T, d_head) by a view and a "
        "transpose; scores (B, n_heads, T, T) divided by sqrt(d_head), masked if causal, softmax over the keys; "
        "weights @ v, back to (B, T, d_model), then out_proj.",
        "project x with mha.q_proj, mha.k_proj and mha.v_proj, split each into heads with "
        ".view(B, T, n_heads, d_head).transpose(1, 2), attend (scores / sqrt(d_head), causal_mask(T) if causal, "
        "softmax(dim=-1)), merge with .transpose(1, 2).reshape(B, T, d_model) and apply mha.out_proj."),
    row("ch04.positional_encoding", 6, "sinusoidal positions", "check_positional_encoding", 2, 3, 15,
        "6 (T, d) pairs, odd d included, against sinusoidal_positional_encoding",
        "Each pair of columns is a clock turning at its own speed: a sine and a cosine of the same angle.",
        "angle(pos, i) = pos / 10000^(2i / d) for the pair i; column 2i holds its sine, column 2i + 1 its cosine; "
        "with an odd d the last column is a lone sine. Return (T, d) floats.",
        "angles pos / 10000^(2i/d) for i = 0, 1, ..., then sin in the even columns (pe[:, 0::2]) and cos in the "
        "odd ones (pe[:, 1::2])."),
    row("ch04.copy_model", 7, "learning to copy", "check_copy_model", 1, 3, 10,
        "the model's copy accuracy on fresh sequences and its attention map (the diagonal when no symbol "
        "repeats)",
        "Train the toy model of the chapter on the copy task and look at where it attends.",
        "train_toy(ToyConfig(task='copy', ...)) returns (model, losses); one layer and one head keep the map "
        "readable, learned positions let it find its own position, and 300 steps or more are enough.",
        "copy_model, _ = train_toy(ToyConfig(task='copy', n_layers=1, n_heads=1, positions='learned'), steps=600)"),
    # ------------------------------------------------------------------ chapter 5
    row("ch05.layer_norm", 1, "LayerNorm by hand", "check_layer_norm", 2, 4, 10,
        "inputs of 2, 3 and 4 dimensions, one with a tiny variance (where eps matters), against "
        "torch.nn.functional.layer_norm",
        "Standardise each position's features (mean 0, variance 1), then scale and shift them.",
        "Over the last dimension only (keepdim=True): the mean and the biased variance (divide by C); "
        "(x - mean) / sqrt(var + eps), eps inside the square root; times gain, plus bias.",
        "subtract the mean over the last dimension, divide by sqrt(variance + eps) (x.var(-1, keepdim=True, "
        "unbiased=False)), then multiply by gain and add bias."),
    row("ch05.gelu", 2, "GPT-2's GELU", "check_gelu", 1, 2, 5,
        "241 points from -6 to 6 against F.gelu(x, approximate='tanh')",
        "GELU is x times a smooth step; GPT-2 writes the step with tanh.",
        "0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), elementwise.",
        "0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))"),
    row("ch05.gpt_block", 3, "a GPT block from its weights", "check_gpt_block", 4, 5, 35,
        "3 shapes (one of them random, one a single position) against lm_course.gpt.Block",
        "Two sub-layers, attention then MLP, each reading a LayerNorm of the stream and adding its result to it.",
        "x (B, T, C): a = ln_1(x); c_attn gives (B, T, 3C), split into q, k, v, each viewed (B, T, n_head, hs) and "
        "transposed to (B, n_head, T, hs); causal softmax of q k^T / sqrt(hs); weights @ v back to (B, T, C); "
        "c_proj; x = x + that. Then x = x + c_proj(gelu(c_fc(ln_2(x)))). Linear weights are (out, in).",
        "ln_1, then c_attn split into q, k, v of n_head heads (view + transpose(1, 2)), causal softmax attention, "
        "merge with transpose(1, 2).reshape(B, T, C), c_proj, add to x; then ln_2, c_fc, GELU (tanh), c_proj, "
        "add to x.",
        needs=("ch05.layer_norm", "ch05.gelu")),
    row("ch05.count_parameters", 4, "counting a GPT's parameters", "check_parameter_count", 3, 3, 20,
        "7 configurations (with and without bias, tied and untied heads, one random) against "
        "GPT(config).num_parameters()",
        "Add up, layer by layer, the weights and biases a GPT holds; a tied head is the embedding itself.",
        "wte V C, wpe T C; per block: two LayerNorms (C gain, plus C bias if config.bias), c_attn 3C x C, "
        "attn.c_proj C x C, c_fc 4C x C, mlp.c_proj 4C x C and their biases; ln_f; the head V C only if untied. "
        "Return an int.",
        "add up the embeddings wte (V x C) and wpe (block_size x C), n_layer blocks (two LayerNorms, attention's "
        "c_attn and c_proj, the MLP's c_fc and c_proj, with their biases if config.bias), the final ln_f, and the "
        "head only if it is not tied."),
    row("ch05.gpt_forward", 5, "the whole GPT forward pass", "check_gpt_forward", 3, 5, 20,
        "3 configurations (with and without biases, one token of context) against model(idx).logits",
        "A GPT is embeddings plus positions, a stack of blocks, a last LayerNorm and a head tied to the "
        "embeddings.",
        "x = wte(idx) + wpe(arange(T)) is (B, T, C); each block of model.transformer.h maps it to (B, T, C) (a block "
        "returns a tuple: keep [0]); then ln_f; the logits (B, T, V) are x @ wte.weight.T.",
        "t = model.transformer; x = t.wte(idx) + t.wpe(torch.arange(idx.size(1))); for block in t.h: "
        "x = block(x)[0]; return t.ln_f(x) @ t.wte.weight.T",
        needs=("ch05.gpt_block",)),
    row("ch05.first_position_score", 6, "attention to the first position", "check_first_position_score", 1, 2, 5,
        "a (2, 3, 9, 9) stack of causal attention maps against the exact mean",
        "Average, over the queries that had a choice, the weight they put on key 0.",
        "weights is (..., T, T), rows are queries and columns keys. Take column 0 for the queries 1 .. T-1 and "
        "average over them: one number per leading index.",
        "weights[..., 1:, 0].mean(-1)"),
    # ------------------------------------------------------------------ chapter 6
    row("ch06.generate_loop", 1, "the decoding loop", "check_generate", 2, 5, 15,
        "4 prompts (past block_size, one token long) with a seeded generator, token for token against "
        "lm_course.sampling.generate",
        "Generation is a loop: predict, sample one token, append it, repeat; the model sees at most block_size "
        "tokens.",
        "At each step: the last block_size tokens of idx (B, <= block_size); the logits of the last position "
        "(B, V) divided by the temperature; softmax; one torch.multinomial draw per row with the generator; "
        "torch.cat the (B, 1) tokens to idx.",
        "at each step: crop idx to its last block_size tokens, take the logits of the last position, divide by "
        "the temperature, softmax, torch.multinomial(probs, 1, generator=generator), and append the token to idx."),
    row("ch06.top_k_filter", 2, "top-k", "check_top_k", 2, 4, 10,
        "6 cases (ties, k = 1, k = V, batches) against filter_logits(logits, top_k=k); the input left unchanged",
        "Keep the k largest logits of each row (and any tied with the k-th); the others can never be drawn.",
        "The k-th largest value of each row is torch.topk(logits, k, dim=-1).values[..., -1:] (keep the "
        "dimension so it broadcasts over (B, V)); every logit below it becomes -inf, in a new tensor.",
        "kth = torch.topk(logits, k, dim=-1).values[..., -1:]; return logits.masked_fill(logits < kth, "
        "float('-inf'))"),
    row("ch06.nucleus", 3, "the nucleus", "check_nucleus", 3, 4, 15,
        "6 distributions and values of p against filter_logits(..., top_p=p)",
        "Keep the most probable tokens until their total reaches p; the token that crosses p stays in.",
        "Sort the (V,) probabilities in descending order; a token stays while the mass BEFORE it is below p "
        "(cumsum - probs < p); put the bool mask back in vocabulary order with the sort's indices.",
        "sort the probabilities (torch.sort(probs, descending=True)), keep each token while the mass of the "
        "tokens before it is below p, then put the mask back in vocabulary order (mask[order] = kept)."),
    row("ch06.beam_step", 4, "one step of beam search", "check_beam_step", 3, 3, 20,
        "6 cases (one live beam, a beam far behind) against the step of lm_course.sampling.beam_search",
        "Every beam can be extended by every token: rank all K * V extensions by their total log-probability.",
        "Totals (K, V) = beam_scores[:, None] + next_log_probs; flatten to K * V; topk(num_beams); recover the "
        "beam as index // V and the token as index % V (V, the vocabulary size, not K).",
        "add each beam's score to its next-token log-probabilities, (K, 1) + (K, V), flatten to K * V "
        "candidates, take the top num_beams, and recover parent = index // V, token = index % V."),
    row("ch06.attention_step", 5, "attention with a KV cache", "check_cached_attention", 3, 4, 20,
        "6 steps from an empty cache against causal attention over the whole sequence",
        "At each step only the newest query is new; it may look at every cached position and at itself.",
        "q, k_new, v_new are (B, H, 1, D), the caches (B, H, P, D). Append along the position dim (dim=2) to "
        "get (B, H, P + 1, D); then softmax(q k_all^T / sqrt(D)) over the keys times v_all: (B, H, 1, D). No mask.",
        "append the new key and value to the caches (torch.cat along dim=2), then softmax(q @ k_all^T / sqrt(D)) "
        "@ v_all; return (out, k_all, v_all)."),
    row("ch06.generate_cached", 6, "greedy generation with the KV cache", "check_generate_cached", 3, 4, 20,
        "3 prompts (one token long, one new token) token for token against generate(..., use_cache=True), and "
        "what the model is fed at each step where a hook sees it",
        "Read the prompt once; after that each step feeds only the newest token, and the cache supplies the keys "
        "and values of everything before it.",
        "out = model(idx, use_cache=True) gives logits (B, T, V) and past_key_values. Each step: the argmax of the "
        "last position's logits (B, 1), appended to idx; then model(that token, past_key_values=out."
        "past_key_values, use_cache=True): one new position, the cache one longer.",
        "out = model(idx, use_cache=True); for _ in range(max_new_tokens): nxt = out.logits[:, -1].argmax(-1, "
        "keepdim=True); idx = torch.cat([idx, nxt], 1); out = model(nxt, past_key_values=out.past_key_values, "
        "use_cache=True). return idx",
        needs=("ch06.attention_step",)),
    # ------------------------------------------------------------------ chapter 7
    row("ch07.prefix_lm_mask", 1, "a prefix-LM mask", "check_prefix_lm_mask", 1, 3, 5,
        "4 (T, P) pairs, P = 0 and P = T included, against the exact mask",
        "The prefix is read both ways; everything after it is causal.",
        "mask[t, s] (T, T) bool is True when the key s is in the prefix (s < P) or is not in the query's "
        "future (s <= t).",
        "s = torch.arange(T); return (s[None, :] < P) | (s[None, :] <= s[:, None])"),
    row("ch07.last_token_pool", 2, "last-token pooling", "check_last_token_pool", 2, 4, 10,
        "3 right-padded batches (a sequence filling the batch, one of length 1) against GPTClassifier's "
        "pooling='last'",
        "In a causal model only the last real token has read the whole passage; padding comes after it.",
        "h is (B, T, C), lengths (B,). For sequence b take the row lengths[b] - 1 of h[b]; index both dims at "
        "once to get (B, C).",
        "h[torch.arange(h.size(0)), lengths - 1]"),
    row("ch07.head_logits", 3, "the head in eval mode", "check_head_logits", 2, 3, 10,
        "3 batches (one of a single passage) with tiny running variances against "
        "GPTClassifier.classify_features",
        "In eval mode the normalisation uses the statistics stored during training, not the batch's.",
        "Standardise z (B, C) feature by feature: (z - running_mean) / sqrt(running_var + eps); then the linear "
        "layer, @ weight.T + bias: (B, K).",
        "((z - running_mean) / torch.sqrt(running_var + eps)) @ weight.T + bias"),
    row("ch07.trainable_parameters", 4, "what a probe and full fine-tuning train", "check_trainable_parameters",
        2, 4, 10,
        "probe and full modes on fresh and previously probed classifiers, and one optimiser step each",
        "A probe trains only the new head; full fine-tuning trains everything, even a body frozen before.",
        "Set requires_grad on model.gpt's parameters (False for a probe, True for full) and True on model.head's; "
        "return the parameters that train, each once.",
        "set p.requires_grad_(...) on model.gpt.parameters() and model.head.parameters(), then return "
        "[p for p in model.parameters() if p.requires_grad]."),
    row("ch07.paired_se", 5, "a paired difference", "check_paired_difference", 2, 4, 10,
        "3 pairs of classifiers' results (10, 50 and 333 passages) against genre_eval.paired_difference",
        "Both classifiers saw the same passages: compare them passage by passage.",
        "d = a - b per passage, as numbers (a.double() - b.double(); booleans cannot be subtracted). Return "
        "its mean and the standard error of that mean, std(d, ddof=1) / sqrt(N), as two floats.",
        "d = correct_a.double() - correct_b.double(); return float(d.mean()), float(d.std() / len(d) ** 0.5)"),
)
