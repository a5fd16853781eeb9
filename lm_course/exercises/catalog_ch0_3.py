"""The exercises of chapters 0 to 3 (``00_welcome.ipynb`` .. ``03_rnns.ipynb``), one
:func:`~.exercise_row.row` each: key, number, title, checker, difficulty, importance, minutes, what is
checked, three hints, needs.
"""

from __future__ import annotations

from lm_course.exercises.exercise_row import Exercise, row

__all__ = ["ROWS"]

ROWS: tuple[Exercise, ...] = (
    # ------------------------------------------------------------------ chapter 0
    row("ch00.words_seen_twice", 1, "the long tail", "check_words_seen_twice", 1, 2, 3,
        "the number against viz.corpus.word_counts of the training split",
        "A word 'seen twice' is a key of the word counts whose count is exactly 2.",
        "word_counts(load_shakespeare('train')) is a dict word -> count; count its values equal to 2.",
        "sum(1 for n in word_counts(load_shakespeare('train')).values() if n == 2)"),
    row("ch00.log_prob_of_word", 2, "chain rule", "check_log_prob_of_word", 1, 3, 3,
        "the value against the unigram model's log2 p('t') + log2 p('h') + log2 p('e')",
        "The chain rule multiplies one probability per character; the unigram model ignores the context.",
        "Look up p('t'), p('h') and p('e') in the unigram model (tok.encode gives the ids, model.probs the "
        "probabilities) and combine them; the answer is a log2, so it is negative.",
        "sum(math.log2(float(unigram.probs[i])) for i in tok.encode('the'))"),
    row("ch00.entropy_bits", 3, "entropy", "check_entropy_bits", 2, 4, 10,
        "8 distributions, 3 of them with zeros, against -sum p log2 p in float64",
        "Entropy is the average surprise: each outcome's -log2 p, weighted by how often it happens.",
        "p is a (V,) tensor summing to 1; compute -log2 p[i] for every entry, weight it by p[i], sum, and leave "
        "out the entries with p = 0 (0 log 0 counts as 0). Return a float in bits.",
        "nz = p.double()[p > 0]; return float(-(nz * torch.log2(nz)).sum())"),
    row("ch00.bits_per_character", 4, "bits per character", "check_bits_per_character", 2, 5, 15,
        "6 texts under bigram and trigram toy models (the context matters) against "
        "lm_course.evaluate.bits_per_token",
        "Score every character after the first by how surprised the model is, given everything before it; "
        "average the surprises.",
        "For t = 1 .. N-1 ask model.next_token_probs(context) with the context being all of ids before t; take "
        "-log2 of the probability of ids[t]; divide the total by N - 1, the number of predictions.",
        "total = 0.0; for t in range(1, len(ids)): p = model.next_token_probs(ids[:t]); "
        "total += -math.log2(float(p[ids[t]])); return total / (len(ids) - 1)"),
    # ------------------------------------------------------------------ chapter 1
    row("ch01.mle_table", 1, "the MLE table", "check_mle_table", 2, 4, 10,
        "8 count matrices (random, with unseen rows, and the names' bigram counts) against the exact float64 "
        "table",
        "P(next | prev) is the share of prev's followers that are next: one distribution per row.",
        "counts is (V, V), row = previous token. Divide each row by its own total (a (V, 1) column, "
        "keepdim=True) in float64; a row whose total is 0 has no data: make it uniform, 1 / V.",
        "c = counts.double(); total = c.sum(dim=1, keepdim=True); "
        "return torch.where(total > 0, c / total.clamp(min=1), torch.full_like(c, 1 / c.shape[0]))"),
    row("ch01.sample_bigram_name", 2, "sampling a name", "check_sample_name", 2, 4, 10,
        "54 names on the names' table and a tiny one, draw for draw against the sampler of section 2 (or 1000 "
        "names by their distribution)",
        "A name is a walk through the table: each character is drawn from the row of the one before it, "
        "starting and ending at the marker '.'.",
        "Keep the current id i (start at 0, the marker). Draw the next id from the row P[i] with "
        "torch.multinomial and the generator; the marker ends the name, and so does max_length.",
        "start at i = 0 (the marker '.'); repeat: i = int(torch.multinomial(P[i], 1, generator=generator)); "
        "stop if i == 0, else append labels[i]; stop after max_length characters; return ''.join(...)."),
    row("ch01.add_k_table", 3, "the add-k table", "check_add_k_table", 2, 3, 10,
        "8 count matrices with k from 0 to 2 against (c + k) / (c(prev) + k V)",
        "Pretend every bigram was seen k more times than it was, then normalise as in Exercise 1.",
        "Add k to every cell of the (V, V) counts; each row's total grows by k for each of its V cells. With "
        "k = 0 an unseen row would be 0 / 0: fall back on Exercise 1's rule.",
        "if k == 0: return mle_table(counts); c = counts.double() + k; return c / c.sum(dim=1, keepdim=True)",
        needs=("ch01.mle_table",)),
    row("ch01.jelinek_mercer", 4, "Jelinek-Mercer by hand", "check_jelinek_mercer", 4, 3, 30,
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
    row("ch01.kneser_ney_trigram", 5, "Kneser-Ney by hand", "check_kneser_ney_trigram", 5, 3, 40,
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
    row("ch02.merge", 1, "one BPE merge", "check_merge", 2, 5, 10,
        "27 lists (overlapping pairs such as [5, 5, 5], empty and one-id lists) against the package's "
        "merge_pair; the input list left unchanged",
        "Walk through the ids once, left to right; where the pair starts, write the new id and jump over both.",
        "Build a new list out = []; with an index i: if ids[i], ids[i+1] is the pair, append new_id and move "
        "i by 2, else append ids[i] and move i by 1; stop when i reaches len(ids). Do not change ids itself.",
        "out, i = [], 0; while i < len(ids): if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair: "
        "out.append(new_id); i += 2; else: out.append(ids[i]); i += 1. return out"),
    row("ch02.pair_counts", 2, "counting pairs", "check_pair_counts", 1, 4, 5,
        "23 lists of chunks (empty, one id, repeats) against the counts BPE training starts from",
        "Every pair of neighbours inside a chunk counts once per position; chunks never touch each other.",
        "For each chunk (a list of ids) zip it with itself shifted by one; count the pairs (a, b) as tuples in "
        "a dict or a collections.Counter.",
        "for each chunk, for each (a, b) in zip(chunk, chunk[1:]): counts[(a, b)] += 1 (a collections.Counter "
        "does it in one line per chunk)."),
    row("ch02.train_bpe", 3, "a BPE trainer", "check_train_bpe", 3, 5, 25,
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
    row("ch02.mlp_logits", 4, "the MLP's forward pass", "check_mlp_logits", 2, 4, 15,
        "5 models of different sizes (padding ids included) against MLPLanguageModel.logits_by_formula",
        "Look up each token's embedding, put a window's embeddings side by side, then one tanh layer and one "
        "output layer.",
        "C[windows] is (N, n, d); flatten it to (N, n*d). The hidden layer is (N, H), the logits (N, V). "
        "nn.Linear weights are (out, in), so a layer is e @ W.T + b.",
        "e = C[windows].flatten(-2) (N, n*d); h = torch.tanh(e @ W_h.T + b_h) (N, H); return h @ W_o.T + b_o "
        "(N, V)."),
    row("ch02.training_step", 5, "one training step", "check_training_step", 2, 5, 10,
        "6 steps with SGD (with and without clipping) and 6 with AdamW inside lm_course.train.train: the same "
        "losses and weights",
        "One step: measure the loss, get its gradients, tidy them (clip), move the weights.",
        "loss = cross-entropy of model(x) (B, T, V) against y (B, T), flattened to (B*T, V) and (B*T,). Then "
        "zero the old gradients, backward, clip to grad_clip unless it is None, step; return the loss as a "
        "Python float.",
        "compute the loss (F.cross_entropy on logits reshaped to (B*T, V) against y reshaped to (B*T,)), then "
        "optimizer.zero_grad(), loss.backward(), torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip) "
        "unless grad_clip is None, optimizer.step(), and return loss.item()."),
    row("ch02.cross_entropy", 6, "cross-entropy from logits", "check_cross_entropy", 2, 4, 10,
        "4 batches of logits, one near 100 where exp overflows, against F.cross_entropy",
        "The loss is the mean surprise at the right class: minus the log of its softmax probability.",
        "For each row of the (N, V) logits: log sum_j exp(x_j) minus the target's logit; subtract the row's max "
        "first so that exp never overflows (log-sum-exp). Average over the N rows; natural log.",
        "m = logits.max(dim=-1, keepdim=True).values; log_z = m.squeeze(-1) + (logits - m).exp().sum(-1).log(); "
        "return (log_z - logits[torch.arange(len(targets)), targets]).mean()"),
    row("ch02.adamw_step", 7, "an AdamW step by hand", "check_adamw_step", 3, 4, 20,
        "6 steps from zero moments, 3 settings (with and without weight decay), against torch.optim.AdamW",
        "Adam divides a running mean of the gradient by the running root mean square; AdamW shrinks the weights "
        "separately, outside that ratio.",
        "m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2; bias-correct both by 1 - b^t (t from 1); shrink p by "
        "(1 - lr * weight_decay); then p - lr * m_hat / (sqrt(v_hat) + eps). Return new tensors (p, m, v).",
        "b1, b2 = betas; m = b1 * m + (1 - b1) * grad; v = b2 * v + (1 - b2) * grad**2; m_hat = m / (1 - b1**t); "
        "v_hat = v / (1 - b2**t); p = p * (1 - lr * weight_decay); "
        "return p - lr * m_hat / (v_hat.sqrt() + eps), m, v"),
    # ------------------------------------------------------------------ chapter 3
    row("ch03.rnn_forward", 1, "the RNN over a sequence", "check_rnn_forward", 2, 4, 10,
        "4 sequences (one step, a zero h0) in float64 against torch.nn.RNN",
        "One cell, applied T times: each step reads the input at t and the state the step before produced.",
        "xs is (B, T, I), h0 (B, H). Loop over t with h (B, H): one step is tanh of x_t @ W_xh.T + h @ W_hh.T + "
        "b_h. Keep every new h and stack them on dim 1: (B, T, H), without h0.",
        "h = h0; for each t: h = torch.tanh(xs[:, t] @ W_xh.T + h @ W_hh.T + b_h), keep it; return "
        "torch.stack(states, dim=1)."),
    row("ch03.bptt_grad_W_hh", 2, "BPTT for W_hh", "check_bptt_grad_W_hh", 4, 4, 30,
        "3 sequences (1 to 12 steps) in float64 against autograd",
        "W_hh is used at every step, so its gradient is a sum of one contribution per step, each reached by "
        "going backwards through the steps after it.",
        "Run forward keeping h_0 .. h_T (each (H,)). Go back from t = T to 1 with dh (H,), starting at u: "
        "delta_t = dh * tanh'(pre-activation), add the (H, H) outer product of delta_t and h_{t-1}, pass the "
        "gradient back through W_hh to h_{t-1}.",
        "run the RNN forward keeping h_0 .. h_T, then walk back from t = T to 1 with delta_t = dloss/dh_t * "
        "(1 - h_t**2); add outer(delta_t, h_{t-1}) to the gradient and pass W_hh.T @ delta_t back to h_{t-1}."),
    row("ch03.clip", 3, "gradient clipping", "check_clip_grad_norm", 2, 3, 10,
        "3 lists of gradients (above and below max_norm) against torch.nn.utils.clip_grad_norm_",
        "Clipping keeps the direction of the whole gradient and caps its length: one length for all the "
        "tensors together.",
        "The total norm is the square root of the sum of every squared entry of every tensor. If it exceeds "
        "max_norm, multiply every tensor by max_norm / total; otherwise return them as they are.",
        "total = torch.sqrt(sum((g ** 2).sum() for g in grads)); scale = min(1.0, max_norm / (float(total) + "
        "1e-6)); return [g * scale for g in grads]"),
    row("ch03.lstm_step", 4, "an LSTM step by hand", "check_lstm_step", 3, 4, 15,
        "2 random batches against torch.nn.LSTMCell",
        "Four gates from one big matrix product; the cell adds (forgets a part, writes a part), the hidden "
        "state is a gated squash of the cell.",
        "z = x @ weight_ih.T + h @ weight_hh.T + both biases is (B, 4H); its four H-wide blocks are, in "
        "PyTorch's order, i, f, g, o. Sigmoid for the gates i, f, o; tanh for the candidate g. Return "
        "(h_new, c_new).",
        "z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh is (B, 4H); split it into "
        "i, f, g, o (in that order), then c_new = f * c + i * g and h_new = o * tanh(c_new)."),
    row("ch03.gru_step", 5, "a GRU step by hand", "check_gru_step", 3, 3, 20,
        "3 random batches against torch.nn.GRUCell",
        "A GRU blends the old state with a candidate: the update gate z says how much of the old state to keep; "
        "the reset gate r says how much of it the candidate may use.",
        "gi = x @ weight_ih.T + bias_ih and gh = h @ weight_hh.T + bias_hh are (B, 3H), blocks in the order r, "
        "z, n. r and z are sigmoids of gi + gh; the candidate is tanh(gi_n + r * gh_n), r multiplying the whole "
        "hidden term, bias included.",
        "gi = x @ cell.weight_ih.T + cell.bias_ih and gh = h @ cell.weight_hh.T + cell.bias_hh are (B, 3H), "
        "blocks r, z, n; then n = tanh(gi_n + r * gh_n) and h_new = (1 - z) * n + z * h."),
    row("ch03.train_stateful", 6, "stateful truncated BPTT", "check_stateful_tbptt", 3, 3, 20,
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
)
