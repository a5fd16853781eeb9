"""Every exercise of the course as data: one row per exercise.

A row gives the chapter, the exercise's number and title, the function the
student writes (or the answer's name), the checker that judges it, a rating
(``difficulty`` and ``importance`` from 1 to 5, the estimated ``minutes`` of
a first-time student), what the checker tests (printed on a pass) and three
graded hints: 1 the idea, 2 the approach with the shapes, 3 almost the code.
``needs`` names the earlier exercises whose functions the student's code
may call (a failure then blames the unfinished one). ``notebook=False``
marks a checker whose notebook cell is still to be written (it is left out
of :func:`~lm_course.exercises.progress`).

The notebooks, the teacher's guide and :func:`lm_course.exercises.progress` (module :mod:`lm_course.exercises.tracking`)
read this table; a checker's ``.hint(level)`` prints a row's hints.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Exercise", "EXERCISES", "CHAPTERS", "entry", "by_function", "hint"]

CHAPTERS = {0: "Welcome", 1: "n-grams", 2: "Tokens and embeddings", 3: "Recurrent networks", 4: "Attention",
            5: "The Transformer", 6: "GPT-2 and sampling", 7: "Pre-training and fine-tuning"}


@dataclass(frozen=True)
class Exercise:
    key: str  # "ch03.lstm_step": chapter and the function the student writes
    number: int  # its number in the chapter's Exercises section
    title: str  # as in "Exercise 3 (an LSTM step by hand)"
    checker: str  # the checker's name in lm_course.exercises.chNN
    difficulty: int  # 1 (a line or two) .. 5 (the hardest of the course)
    importance: int  # 1 (a curiosity) .. 5 (an idea the rest of the course builds on)
    minutes: int  # a first-time student's estimated time
    checked: str  # what the checker tests, printed on a pass
    hints: tuple[str, str, str]  # the idea, the approach with the shapes, almost the code
    needs: tuple[str, ...] = ()  # keys of earlier exercises whose functions this one may call
    notebook: bool = True  # False: the checker exists, the notebook cell does not yet

    @property
    def chapter(self) -> int:
        return int(self.key[2:4])

    @property
    def function(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def chapter_module(self) -> str:
        return self.key.split(".", 1)[0]


def _x(key, number, title, checker, difficulty, importance, minutes, checked, idea, approach, code, needs=(),
       notebook=True):
    return Exercise(key, number, title, checker, difficulty, importance, minutes, checked, (idea, approach, code),
                    tuple(needs), notebook)


EXERCISES: tuple[Exercise, ...] = (
    # ------------------------------------------------------------------ chapter 0
    _x("ch00.log_prob_of_word", 1, "chain rule", "check_log_prob_of_word", 1, 3, 3,
       "the value against the unigram model's log2 p('t') + log2 p('h') + log2 p('e')",
       "The chain rule multiplies one probability per character; the unigram model ignores the context.",
       "Look up p('t'), p('h') and p('e') in the unigram model (tok.encode gives the ids, model.probs the "
       "probabilities) and combine them; the answer is a log2, so it is negative.",
       "sum(math.log2(float(unigram.probs[i])) for i in tok.encode('the'))"),
    _x("ch00.entropy_bits", 2, "entropy", "check_entropy_bits", 2, 4, 10,
       "8 distributions, 3 of them with zeros, against -sum p log2 p in float64",
       "Entropy is the average surprise: each outcome's -log2 p, weighted by how often it happens.",
       "p is a (V,) tensor summing to 1; compute -log2 p[i] for every entry, weight it by p[i], sum, and leave "
       "out the entries with p = 0 (0 log 0 counts as 0). Return a float in bits.",
       "nz = p.double()[p > 0]; return float(-(nz * torch.log2(nz)).sum())"),
    _x("ch00.bits_per_character", 3, "bits per character", "check_bits_per_character", 2, 5, 15,
       "6 texts under bigram and trigram toy models (the context matters) against "
       "lm_course.evaluate.bits_per_token",
       "Score every character after the first by how surprised the model is, given everything before it; "
       "average the surprises.",
       "For t = 1 .. N-1 ask model.next_token_probs(context) with the context being all of ids before t; take "
       "-log2 of the probability of ids[t]; divide the total by N - 1, the number of predictions.",
       "total = 0.0; for t in range(1, len(ids)): p = model.next_token_probs(ids[:t]); "
       "total += -math.log2(float(p[ids[t]])); return total / (len(ids) - 1)"),
    _x("ch00.words_seen_twice", 4, "the long tail", "check_words_seen_twice", 1, 2, 3,
       "the number against viz.corpus.word_counts of the training split",
       "A word 'seen twice' is a key of the word counts whose count is exactly 2.",
       "word_counts(load_shakespeare('train')) is a dict word -> count; count its values equal to 2.",
       "sum(1 for n in word_counts(load_shakespeare('train')).values() if n == 2)"),
    # ------------------------------------------------------------------ chapter 1
    _x("ch01.mle_table", 1, "the MLE table", "check_mle_table", 2, 4, 10,
       "8 count matrices (random, with unseen rows, and the names' bigram counts) against the exact float64 "
       "table",
       "P(next | prev) is the share of prev's followers that are next: one distribution per row.",
       "counts is (V, V), row = previous token. Divide each row by its own total (a (V, 1) column, "
       "keepdim=True) in float64; a row whose total is 0 has no data: make it uniform, 1 / V.",
       "c = counts.double(); total = c.sum(dim=1, keepdim=True); "
       "return torch.where(total > 0, c / total.clamp(min=1), torch.full_like(c, 1 / c.shape[0]))"),
    _x("ch01.add_k_table", 2, "the add-k table", "check_add_k_table", 2, 3, 10,
       "8 count matrices with k from 0 to 2 against (c + k) / (c(prev) + k V)",
       "Pretend every bigram was seen k more times than it was, then normalise as in Exercise 1.",
       "Add k to every cell of the (V, V) counts; each row's total grows by k for each of its V cells. With "
       "k = 0 an unseen row would be 0 / 0: fall back on Exercise 1's rule.",
       "if k == 0: return mle_table(counts); c = counts.double() + k; return c / c.sum(dim=1, keepdim=True)",
       needs=("ch01.mle_table",)),
    _x("ch01.sample_bigram_name", 3, "sampling a name", "check_sample_name", 2, 4, 10,
       "54 names on the names' table and a tiny one, draw for draw against the sampler of section 2 (or 1000 "
       "names by their distribution)",
       "A name is a walk through the table: each character is drawn from the row of the one before it, "
       "starting and ending at the marker '.'.",
       "Keep the current id i (start at 0, the marker). Draw the next id from the row P[i] with "
       "torch.multinomial and the generator; the marker ends the name, and so does max_length.",
       "start at i = 0 (the marker '.'); repeat: i = int(torch.multinomial(P[i], 1, generator=generator)); "
       "stop if i == 0, else append labels[i]; stop after max_length characters; return ''.join(...)."),
    _x("ch01.jelinek_mercer", 4, "Jelinek-Mercer by hand", "check_jelinek_mercer", 4, 3, 30,
       "orders 2 to 5 on a small text (seen and unseen contexts) and the 5-gram after 'King' against "
       "NGramLM(n, 'interpolated')",
       "Mix the estimates of every order, from the uniform one to the longest context, with the weights "
       "lambdas; an order whose context was never seen says nothing and is left out.",
       "For m = 1 .. n the context is the last m - 1 tokens of h; its total c(context) is the sum over v of "
       "counts.count(context + [v]). If the total is > 0 add lambdas[m] * count(context + [w]) / total and "
       "keep lambdas[m] in the weights; start from lambdas[0] / V; divide by the kept weights.",
       "num, wsum = lambdas[0] / V, lambdas[0]; for m in range(1, n + 1): ctx = list(h[len(h) - m + 1:]); "
       "total = sum(counts.count(ctx + [v]) for v in range(V)); if total: num += lambdas[m] * "
       "counts.count(ctx + [w]) / total; wsum += lambdas[m]. return num / wsum  (careful: h[-(m-1):] is all "
       "of h when m = 1)"),
    _x("ch01.kneser_ney_trigram", 5, "Kneser-Ney by hand", "check_kneser_ney_trigram", 5, 3, 40,
       "4 contexts of a small text (never seen, seen only at the end) and 3 characters after 'Ki' against "
       "NGramLM(3, 'kneser_ney')",
       "Discount every seen count by D and give the saved mass to a lower order; below the top, count in how "
       "many different contexts a token appears, not how often.",
       "Three levels, bottom up, each max(c - D, 0) / total + D * types / total * p_lower, where total = sum "
       "of the row and types = how many entries are > 0 (a row with total 0 passes p_lower through): the "
       "unigram level from continuation_count([v]) over p = 1/V, the bigram level from "
       "continuation_count([h[1], v]), the top level from count([h[0], h[1], v]).",
       "three levels, bottom up: p = 1/V; then the unigram level from continuation counts N1+(. v); then the "
       "bigram level from N1+(. h[1] v); then the top level from c(h[0] h[1] v). Each: max(c - D, 0) / total + "
       "D * types / total * p_lower."),
    # ------------------------------------------------------------------ chapter 2
    _x("ch02.merge", 1, "one BPE merge", "check_merge", 2, 5, 10,
       "27 lists (overlapping pairs such as [5, 5, 5], empty and one-id lists) against the package's "
       "merge_pair; the input list left unchanged",
       "Walk through the ids once, left to right; where the pair starts, write the new id and jump over both.",
       "Build a new list out = []; with an index i: if ids[i], ids[i+1] is the pair, append new_id and move "
       "i by 2, else append ids[i] and move i by 1; stop when i reaches len(ids). Do not change ids itself.",
       "out, i = [], 0; while i < len(ids): if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair: "
       "out.append(new_id); i += 2; else: out.append(ids[i]); i += 1. return out"),
    _x("ch02.pair_counts", 2, "counting pairs", "check_pair_counts", 1, 4, 5,
       "23 lists of chunks (empty, one id, repeats) against the counts BPE training starts from",
       "Every pair of neighbours inside a chunk counts once per position; chunks never touch each other.",
       "For each chunk (a list of ids) zip it with itself shifted by one; count the pairs (a, b) as tuples in "
       "a dict or a collections.Counter.",
       "for each chunk, for each (a, b) in zip(chunk, chunk[1:]): counts[(a, b)] += 1 (a collections.Counter "
       "does it in one line per chunk)."),
    _x("ch02.train_bpe", 3, "a BPE trainer", "check_train_bpe", 3, 5, 25,
       "14 texts (ties, repeated letters, early stops) against BPETokenizer.train(...).merges",
       "BPE repeats two steps: count the pairs, merge the most frequent one into a new token.",
       "Pre-split the text (re.findall(SPLIT_PATTERN, text)) into chunks of bytes. num_merges times: count the "
       "pairs over all chunks (Exercise 2), take the most frequent (ties: the smallest pair), stop if it "
       "occurs fewer than 2 times, replace it everywhere by the id 256 + k (Exercise 1).",
       "split the text into chunks with re.findall(SPLIT_PATTERN, text), turn each into "
       "list(chunk.encode('utf-8')); then num_merges times: count the pairs (Exercise 2), take the most "
       "frequent (ties: the smallest pair), stop if it occurs fewer than 2 times, merge it everywhere with new "
       "id 256 + k (Exercise 1).",
       needs=("ch02.merge", "ch02.pair_counts")),
    _x("ch02.mlp_logits", 4, "the MLP's forward pass", "check_mlp_logits", 2, 4, 15,
       "5 models of different sizes (padding ids included) against MLPLanguageModel.logits_by_formula",
       "Look up each token's embedding, put a window's embeddings side by side, then one tanh layer and one "
       "output layer.",
       "C[windows] is (N, n, d); flatten it to (N, n*d). The hidden layer is (N, H), the logits (N, V). "
       "nn.Linear weights are (out, in), so a layer is e @ W.T + b.",
       "e = C[windows].flatten(-2) (N, n*d); h = torch.tanh(e @ W_h.T + b_h) (N, H); return h @ W_o.T + b_o "
       "(N, V)."),
    _x("ch02.training_step", 5, "one training step", "check_training_step", 2, 5, 10,
       "6 steps with SGD (with and without clipping) and 6 with AdamW inside lm_course.train.train: the same "
       "losses and weights",
       "One step: measure the loss, get its gradients, tidy them (clip), move the weights.",
       "loss = cross-entropy of model(x) (B, T, V) against y (B, T), flattened to (B*T, V) and (B*T,). Then "
       "zero the old gradients, backward, clip to grad_clip unless it is None, step; return the loss as a "
       "Python float.",
       "compute the loss (F.cross_entropy on logits reshaped to (B*T, V) against y reshaped to (B*T,)), then "
       "optimizer.zero_grad(), loss.backward(), torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) "
       "unless grad_clip is None, optimizer.step(), and return loss.item()."),
    _x("ch02.cross_entropy", 6, "cross-entropy from logits", "check_cross_entropy", 2, 4, 10,
       "4 batches of logits, one near 100 where exp overflows, against F.cross_entropy",
       "The loss is the mean surprise at the right class: minus the log of its softmax probability.",
       "For each row of the (N, V) logits: log sum_j exp(x_j) minus the target's logit; subtract the row's max "
       "first so that exp never overflows (log-sum-exp). Average over the N rows; natural log.",
       "m = logits.max(dim=-1, keepdim=True).values; log_z = m.squeeze(-1) + (logits - m).exp().sum(-1).log(); "
       "return (log_z - logits[torch.arange(len(targets)), targets]).mean()"),
    _x("ch02.adamw_step", 7, "an AdamW step by hand", "check_adamw_step", 3, 4, 20,
       "6 steps from zero moments, 3 settings (with and without weight decay), against torch.optim.AdamW",
       "Adam divides a running mean of the gradient by the running root mean square; AdamW shrinks the weights "
       "separately, outside that ratio.",
       "m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2; bias-correct both by 1 - b^t (t from 1); shrink p by "
       "(1 - lr * weight_decay); then p - lr * m_hat / (sqrt(v_hat) + eps). Return new tensors (p, m, v).",
       "b1, b2 = betas; m = b1 * m + (1 - b1) * grad; v = b2 * v + (1 - b2) * grad**2; m_hat = m / (1 - b1**t); "
       "v_hat = v / (1 - b2**t); p = p * (1 - lr * weight_decay); "
       "return p - lr * m_hat / (v_hat.sqrt() + eps), m, v"),
    # ------------------------------------------------------------------ chapter 3
    _x("ch03.bptt_grad_W_hh", 1, "BPTT for W_hh", "check_bptt_grad_W_hh", 4, 4, 30,
       "3 sequences (1 to 12 steps) in float64 against autograd",
       "W_hh is used at every step, so its gradient is a sum of one contribution per step, each reached by "
       "going backwards through the steps after it.",
       "Run forward keeping h_0 .. h_T (each (H,)). Go back from t = T to 1 with dh (H,), starting at u: "
       "delta_t = dh * tanh'(pre-activation), add the (H, H) outer product of delta_t and h_{t-1}, pass the "
       "gradient back through W_hh to h_{t-1}.",
       "run the RNN forward keeping h_0 .. h_T, then walk back from t = T to 1 with delta_t = dloss/dh_t * "
       "(1 - h_t**2); add outer(delta_t, h_{t-1}) to the gradient and pass W_hh.T @ delta_t back to h_{t-1}."),
    _x("ch03.clip", 2, "gradient clipping", "check_clip_grad_norm", 2, 3, 10,
       "3 lists of gradients (above and below max_norm) against torch.nn.utils.clip_grad_norm_",
       "Clipping keeps the direction of the whole gradient and caps its length: one length for all the "
       "tensors together.",
       "The total norm is the square root of the sum of every squared entry of every tensor. If it exceeds "
       "max_norm, multiply every tensor by max_norm / total; otherwise return them as they are.",
       "total = torch.sqrt(sum((g ** 2).sum() for g in grads)); scale = min(1.0, max_norm / (float(total) + "
       "1e-6)); return [g * scale for g in grads]"),
    _x("ch03.lstm_step", 3, "an LSTM step by hand", "check_lstm_step", 3, 4, 15,
       "2 random batches against torch.nn.LSTMCell",
       "Four gates from one big matrix product; the cell adds (forgets a part, writes a part), the hidden "
       "state is a gated squash of the cell.",
       "z = x @ weight_ih.T + h @ weight_hh.T + both biases is (B, 4H); its four H-wide blocks are, in "
       "PyTorch's order, i, f, g, o. Sigmoid for the gates i, f, o; tanh for the candidate g. Return "
       "(h_new, c_new).",
       "z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh is (B, 4H); split it into "
       "i, f, g, o (in that order), then c_new = f * c + i * g and h_new = o * tanh(c_new)."),
    _x("ch03.gru_step", 4, "a GRU step by hand", "check_gru_step", 3, 3, 20,
       "3 random batches against torch.nn.GRUCell",
       "A GRU blends the old state with a candidate: the update gate z says how much of the old state to keep; "
       "the reset gate r says how much of it the candidate may use.",
       "gi = x @ weight_ih.T + bias_ih and gh = h @ weight_hh.T + bias_hh are (B, 3H), blocks in the order r, "
       "z, n. r and z are sigmoids of gi + gh; the candidate is tanh(gi_n + r * gh_n), r multiplying the whole "
       "hidden term, bias included.",
       "gi = x @ cell.weight_ih.T + cell.bias_ih and gh = h @ cell.weight_hh.T + cell.bias_hh are (B, 3H), "
       "blocks r, z, n; then n = tanh(gi_n + r * gh_n) and h_new = (1 - z) * n + z * h."),
    _x("ch03.rnn_forward", 5, "the RNN over a sequence", "check_rnn_forward", 2, 4, 10,
       "4 sequences (one step, a zero h0) in float64 against torch.nn.RNN",
       "One cell, applied T times: each step reads the input at t and the state the step before produced.",
       "xs is (B, T, I), h0 (B, H). Loop over t with h (B, H): one step is tanh of x_t @ W_xh.T + h @ W_hh.T + "
       "b_h. Keep every new h and stack them on dim 1: (B, T, H), without h0.",
       "h = h0; for each t: h = torch.tanh(xs[:, t] @ W_xh.T + h @ W_hh.T + b_h), keep it; return "
       "torch.stack(states, dim=1)."),
    _x("ch03.train_stateful", 6, "stateful truncated BPTT", "check_stateful_tbptt", 3, 3, 20,
       "RNN, LSTM and GRU models (lanes that are, and are not, a whole number of windows) against "
       "StatefulLoss in the course's loop: the same losses and weights",
       "Carry the state from one window to the next (values flow on) but cut the graph at each window's "
       "start (gradients stop).",
       "inputs and targets are (B, L) lanes; the windows are [a, a + block_size) for a = 0, block_size, ..., "
       "L // block_size of them (a shorter last piece is dropped). For each: model(x, state, "
       "return_state=True), mean cross-entropy, zero_grad, backward, step, then detach the state (each tensor "
       "of an LSTM's (h, c)).",
       "state = None; for each window a:a+block_size of inputs and targets: logits, state = model(x, state, "
       "return_state=True); loss = cross-entropy; zero_grad, backward, step; state = state.detach() (or a "
       "tuple of detached tensors); keep loss.item()."),
    # ------------------------------------------------------------------ chapter 4
    _x("ch04.mha_forward", 1, "multi-head attention", "check_multi_head_attention", 3, 5, 20,
       "4 shapes (with and without the causal mask, one random) against MultiHeadAttention",
       "Project, cut the width into heads that attend separately, glue the heads back, mix them with a last "
       "projection.",
       "q, k, v = the three projections of x, each (B, T, d_model) -> (B, n_heads, T, d_head) by a view and a "
       "transpose; scores (B, n_heads, T, T) divided by sqrt(d_head), masked if causal, softmax over the keys; "
       "weights @ v, back to (B, T, d_model), then out_proj.",
       "project x with mha.q_proj, mha.k_proj and mha.v_proj, split each into heads with "
       ".view(B, T, n_heads, d_head).transpose(1, 2), attend (scores / sqrt(d_head), causal_mask(T) if causal, "
       "softmax(dim=-1)), merge with .transpose(1, 2).reshape(B, T, d_model) and apply mha.out_proj."),
    _x("ch04.window_mask", 2, "a sliding-window mask", "check_window_mask", 2, 3, 10,
       "5 (T, w) pairs, w = 1 and w > T included, against the exact mask",
       "Query t may see itself and the w - 1 keys just before it, nothing in the future.",
       "Compare a column of query indices (T, 1) with a row of key indices (1, T): allowed when key <= query "
       "and query - key < w. Return a (T, T) bool tensor.",
       "t = torch.arange(T); return (t[None, :] <= t[:, None]) & (t[:, None] - t[None, :] < w)"),
    _x("ch04.copy_model", 3, "learning to copy", "check_copy_model", 1, 3, 10,
       "the model's copy accuracy on fresh sequences and its attention map (the diagonal when no symbol "
       "repeats)",
       "Train the toy model of the chapter on the copy task and look at where it attends.",
       "train_toy(ToyConfig(task='copy', ...)) returns (model, losses); one layer and one head keep the map "
       "readable, learned positions let it find its own position, and 300 steps or more are enough.",
       "copy_model, _ = train_toy(ToyConfig(task='copy', n_layers=1, n_heads=1, positions='learned'), steps=600)"),
    _x("ch04.masked_attention", 4, "attention with a mask", "check_masked_attention", 2, 5, 15,
       "5 shapes (T != S, d_k != d_v, a query with no allowed key, one random) against "
       "scaled_dot_product_attention",
       "Attention is a softmax over the keys of scaled dot products; the mask removes keys before the softmax.",
       "scores (..., T, S) = q @ k^T / sqrt(d_k); where the mask is False set -inf; softmax over the last dim; "
       "a row that is all -inf gives NaN: make it zeros; output = weights @ v (..., T, d_v).",
       "scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)); if mask is not None: scores = "
       "scores.masked_fill(~mask, float('-inf')); w = torch.nan_to_num(scores.softmax(-1), nan=0.0); "
       "return w @ v, w"),
    _x("ch04.causal_mask_with_cache", 5, "a causal mask with a cache", "check_causal_mask", 2, 4, 10,
       "6 (T, S) pairs, T = S and T < S, against lm_course.attention.causal_mask",
       "The T queries are the LAST T of S positions: the first S - T keys are the cache, in everyone's past.",
       "Query t sits at position t + S - T, so it may see keys 0 .. t + S - T: a lower triangle of a (T, S) "
       "bool matrix, shifted right by S - T.",
       "query t is position t + (S - T) of the sequence: it may see keys 0 .. t + S - T "
       "(torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T))."),
    _x("ch04.split_merge_heads", 6, "splitting and merging heads", "check_split_merge_heads", 2, 4, 10,
       "4 shapes (one head, one time step) against MultiHeadAttention's split, and merge(split(x)) = x",
       "Each head takes its own slice of the features at every time step; merging puts the slices side by "
       "side again.",
       "split: (B, T, C) -> (B, T, n_heads, d_head) -> (B, n_heads, T, d_head). merge: the reverse, with a "
       "reshape (the transposed tensor is not contiguous, so view would fail).",
       "split: x.view(B, T, n_heads, C // n_heads).transpose(1, 2); merge: y.transpose(1, 2).reshape(B, T, "
       "n_heads * d_head)"),
    _x("ch04.positional_encoding", 7, "sinusoidal positions", "check_positional_encoding", 2, 3, 15,
       "6 (T, d) pairs, odd d included, against sinusoidal_positional_encoding",
       "Each pair of columns is a clock turning at its own speed: a sine and a cosine of the same angle.",
       "angle(pos, i) = pos / 10000^(2i / d) for the pair i; column 2i holds its sine, column 2i + 1 its cosine; "
       "with an odd d the last column is a lone sine. Return (T, d) floats.",
       "angles pos / 10000^(2i/d) for i = 0, 1, ..., then sin in the even columns (pe[:, 0::2]) and cos in the "
       "odd ones (pe[:, 1::2])."),
    # ------------------------------------------------------------------ chapter 5
    _x("ch05.layer_norm", 1, "LayerNorm by hand", "check_layer_norm", 2, 4, 10,
       "inputs of 2, 3 and 4 dimensions, one with a tiny variance (where eps matters), against "
       "torch.nn.functional.layer_norm",
       "Standardise each position's features (mean 0, variance 1), then scale and shift them.",
       "Over the last dimension only (keepdim=True): the mean and the biased variance (divide by C); "
       "(x - mean) / sqrt(var + eps), eps inside the square root; times gain, plus bias.",
       "subtract the mean over the last dimension, divide by sqrt(variance + eps) (x.var(-1, keepdim=True, "
       "unbiased=False)), then multiply by gain and add bias."),
    _x("ch05.gelu", 2, "GPT-2's GELU", "check_gelu", 1, 2, 5,
       "241 points from -6 to 6 against F.gelu(x, approximate='tanh')",
       "GELU is x times a smooth step; GPT-2 writes the step with tanh.",
       "0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), elementwise.",
       "0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))"),
    _x("ch05.gpt_block", 3, "a GPT block from its weights", "check_gpt_block", 4, 5, 35,
       "3 shapes (one of them random, one a single position) against lm_course.gpt.Block",
       "Two sub-layers, attention then MLP, each reading a LayerNorm of the stream and adding its result to it.",
       "x (B, T, C): a = ln_1(x); c_attn gives (B, T, 3C), split into q, k, v, each viewed (B, T, n_head, hs) and "
       "transposed to (B, n_head, T, hs); causal softmax of q k^T / sqrt(hs); weights @ v back to (B, T, C); "
       "c_proj; x = x + that. Then x = x + c_proj(gelu(c_fc(ln_2(x)))). Linear weights are (out, in).",
       "ln_1, then c_attn split into q, k, v of n_head heads (view + transpose(1, 2)), causal softmax attention, "
       "merge with transpose(1, 2).reshape(B, T, C), c_proj, add to x; then ln_2, c_fc, GELU (tanh), c_proj, "
       "add to x.",
       needs=("ch05.layer_norm", "ch05.gelu")),
    _x("ch05.first_position_score", 4, "attention to the first position", "check_first_position_score", 1, 2, 5,
       "a (2, 3, 9, 9) stack of causal attention maps against the exact mean",
       "Average, over the queries that had a choice, the weight they put on key 0.",
       "weights is (..., T, T), rows are queries and columns keys. Take column 0 for the queries 1 .. T-1 and "
       "average over them: one number per leading index.",
       "weights[..., 1:, 0].mean(-1)"),
    _x("ch05.count_parameters", 5, "counting a GPT's parameters", "check_parameter_count", 3, 3, 20,
       "7 configurations (with and without bias, tied and untied heads, one random) against "
       "GPT(config).num_parameters()",
       "Add up, layer by layer, the weights and biases a GPT holds; a tied head is the embedding itself.",
       "wte V C, wpe T C; per block: two LayerNorms (C gain, plus C bias if config.bias), c_attn 3C x C, "
       "attn.c_proj C x C, c_fc 4C x C, mlp.c_proj 4C x C and their biases; ln_f; the head V C only if untied. "
       "Return an int.",
       "add up the embeddings wte (V x C) and wpe (block_size x C), n_layer blocks (two LayerNorms, attention's "
       "c_attn and c_proj, the MLP's c_fc and c_proj, with their biases if config.bias), the final ln_f, and the "
       "head only if it is not tied."),
    _x("ch05.gpt_forward", 6, "the whole GPT forward pass", "check_gpt_forward", 3, 5, 20,
       "3 configurations (with and without biases, one token of context) against model(idx).logits",
       "A GPT is embeddings plus positions, a stack of blocks, a last LayerNorm and a head tied to the "
       "embeddings.",
       "x = wte(idx) + wpe(arange(T)) is (B, T, C); each block of model.transformer.h maps it to (B, T, C) (a block "
       "returns a tuple: keep [0]); then ln_f; the logits (B, T, V) are x @ wte.weight.T.",
       "t = model.transformer; x = t.wte(idx) + t.wpe(torch.arange(idx.size(1))); for block in t.h: "
       "x = block(x)[0]; return t.ln_f(x) @ t.wte.weight.T",
       needs=("ch05.gpt_block",)),
    # ------------------------------------------------------------------ chapter 6
    _x("ch06.top_k_filter", 1, "top-k", "check_top_k", 2, 4, 10,
       "6 cases (ties, k = 1, k = V, batches) against filter_logits(logits, top_k=k); the input left unchanged",
       "Keep the k largest logits of each row (and any tied with the k-th); the others can never be drawn.",
       "The k-th largest value of each row is torch.topk(logits, k, dim=-1).values[..., -1:] (keep the "
       "dimension so it broadcasts over (B, V)); every logit below it becomes -inf, in a new tensor.",
       "kth = torch.topk(logits, k, dim=-1).values[..., -1:]; return logits.masked_fill(logits < kth, "
       "float('-inf'))"),
    _x("ch06.nucleus", 2, "the nucleus", "check_nucleus", 3, 4, 15,
       "6 distributions and values of p against filter_logits(..., top_p=p)",
       "Keep the most probable tokens until their total reaches p; the token that crosses p stays in.",
       "Sort the (V,) probabilities in descending order; a token stays while the mass BEFORE it is below p "
       "(cumsum - probs < p); put the bool mask back in vocabulary order with the sort's indices.",
       "sort the probabilities (torch.sort(probs, descending=True)), keep each token while the mass of the "
       "tokens before it is below p, then put the mask back in vocabulary order (mask[order] = kept)."),
    _x("ch06.attention_step", 3, "attention with a KV cache", "check_cached_attention", 3, 4, 20,
       "6 steps from an empty cache against causal attention over the whole sequence",
       "At each step only the newest query is new; it may look at every cached position and at itself.",
       "q, k_new, v_new are (B, H, 1, D), the caches (B, H, P, D). Append along the position dim (dim=2) to "
       "get (B, H, P + 1, D); then softmax(q k_all^T / sqrt(D)) over the keys times v_all: (B, H, 1, D). No mask.",
       "append the new key and value to the caches (torch.cat along dim=2), then softmax(q @ k_all^T / sqrt(D)) "
       "@ v_all; return (out, k_all, v_all)."),
    _x("ch06.generate_loop", 4, "the decoding loop", "check_generate", 2, 5, 15,
       "4 prompts (past block_size, one token long) with a seeded generator, token for token against "
       "lm_course.sampling.generate",
       "Generation is a loop: predict, sample one token, append it, repeat; the model sees at most block_size "
       "tokens.",
       "At each step: the last block_size tokens of idx (B, <= block_size); the logits of the last position "
       "(B, V) divided by the temperature; softmax; one torch.multinomial draw per row with the generator; "
       "torch.cat the (B, 1) tokens to idx.",
       "at each step: crop idx to its last block_size tokens, take the logits of the last position, divide by "
       "the temperature, softmax, torch.multinomial(probs, 1, generator=generator), and append the token to idx."),
    _x("ch06.beam_step", 5, "one step of beam search", "check_beam_step", 3, 3, 20,
       "6 cases (one live beam, a beam far behind) against the step of lm_course.sampling.beam_search",
       "Every beam can be extended by every token: rank all K * V extensions by their total log-probability.",
       "Totals (K, V) = beam_scores[:, None] + next_log_probs; flatten to K * V; topk(num_beams); recover the "
       "beam as index // V and the token as index % V (V, the vocabulary size, not K).",
       "add each beam's score to its next-token log-probabilities, (K, 1) + (K, V), flatten to K * V "
       "candidates, take the top num_beams, and recover parent = index // V, token = index % V."),
    _x("ch06.generate_cached", 6, "greedy generation with the KV cache", "check_generate_cached", 3, 4, 20,
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
    _x("ch07.paired_se", 1, "a paired difference", "check_paired_difference", 2, 4, 10,
       "3 pairs of classifiers' results (10, 50 and 333 passages) against genre_eval.paired_difference",
       "Both classifiers saw the same passages: compare them passage by passage.",
       "d = a - b per passage, as numbers (a.double() - b.double(); booleans cannot be subtracted). Return "
       "its mean and the standard error of that mean, std(d, ddof=1) / sqrt(N), as two floats.",
       "d = correct_a.double() - correct_b.double(); return float(d.mean()), float(d.std() / len(d) ** 0.5)"),
    _x("ch07.prefix_lm_mask", 2, "a prefix-LM mask", "check_prefix_lm_mask", 1, 3, 5,
       "4 (T, P) pairs, P = 0 and P = T included, against the exact mask",
       "The prefix is read both ways; everything after it is causal.",
       "mask[t, s] (T, T) bool is True when the key s is in the prefix (s < P) or is not in the query's "
       "future (s <= t).",
       "s = torch.arange(T); return (s[None, :] < P) | (s[None, :] <= s[:, None])"),
    _x("ch07.last_token_pool", 3, "last-token pooling", "check_last_token_pool", 2, 4, 10,
       "3 right-padded batches (a sequence filling the batch, one of length 1) against GPTClassifier's "
       "pooling='last'",
       "In a causal model only the last real token has read the whole passage; padding comes after it.",
       "h is (B, T, C), lengths (B,). For sequence b take the row lengths[b] - 1 of h[b]; index both dims at "
       "once to get (B, C).",
       "h[torch.arange(h.size(0)), lengths - 1]"),
    _x("ch07.head_logits", 4, "the head in eval mode", "check_head_logits", 2, 3, 10,
       "3 batches (one of a single passage) with tiny running variances against "
       "GPTClassifier.classify_features",
       "In eval mode the normalisation uses the statistics stored during training, not the batch's.",
       "Standardise z (B, C) feature by feature: (z - running_mean) / sqrt(running_var + eps); then the linear "
       "layer, @ weight.T + bias: (B, K).",
       "((z - running_mean) / torch.sqrt(running_var + eps)) @ weight.T + bias"),
    _x("ch07.trainable_parameters", 5, "what a probe and full fine-tuning train", "check_trainable_parameters",
       2, 4, 10,
       "probe and full modes on fresh and previously probed classifiers, and one optimiser step each",
       "A probe trains only the new head; full fine-tuning trains everything, even a body frozen before.",
       "Set requires_grad on model.gpt's parameters (False for a probe, True for full) and True on model.head's; "
       "return the parameters that train, each once.",
       "set p.requires_grad_(...) on model.gpt.parameters() and model.head.parameters(), then return "
       "[p for p in model.parameters() if p.requires_grad]."),
)

_BY_KEY = {e.key: e for e in EXERCISES}
_LEVELS = {1: "the idea", 2: "the approach", 3: "almost the code"}


def entry(key: str) -> Exercise:
    """The row of ``key`` (``"ch03.lstm_step"``); a ``KeyError`` lists the keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"no exercise {key!r}; the keys are {sorted(_BY_KEY)}") from None


def by_function(name: str, near: str | None = None) -> Exercise | None:
    """The exercise whose function is called ``name`` (in the chapter of the
    key ``near`` first), or ``None``."""
    rows = [e for e in EXERCISES if e.function == name or (e.function == "split_merge_heads"
                                                            and name in ("split_heads", "merge_heads"))]
    if near is not None:
        rows.sort(key=lambda e: e.chapter_module != near.split(".")[0])
    return rows[0] if rows else None


def hint(key: str, level: int = 1) -> str:
    """Hint ``level`` (1 the idea, 2 the approach, 3 almost the code) of exercise ``key``."""
    row = entry(key)
    if level not in _LEVELS:
        raise ValueError(f"level is 1 (the idea), 2 (the approach) or 3 (almost the code), got {level!r}")
    more = f" For more: .hint({level + 1})." if level < 3 else ""
    return (f"Hint {level} of 3 ({_LEVELS[level]}) for Exercise {row.number} ({row.title}): "
            f"{row.hints[level - 1]}{more}")
