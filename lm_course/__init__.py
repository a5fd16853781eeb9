"""lm_course: the helper package of "From n-grams to GPT-2".

One module per idea; each docstring names the notebook section that explains
it. Importing the package is cheap: heavy modules load when first used.

    lm_course.data          the corpus (Shakespeare) and the names list
    lm_course.tokenizers    characters, words, byte-level BPE, GPT-2's BPE
    lm_course.interface     the LanguageModel protocol every model implements
    lm_course.evaluate      bits per token / perplexity of any model
    lm_course.scoreboard    every chapter's numbers, and their bar plot
    lm_course.unigram       chapter 0's unigram model
    lm_course.ngram         chapter 1: n-grams up to Kneser-Ney
    lm_course.train         the training loop (chapters 2, 3, 5, 7)
    lm_course.mlp           chapter 2: Bengio et al.'s MLP language model
    lm_course.rnn           chapter 3: RNN, LSTM and GRU language models
    lm_course.attention     chapter 4: attention, masks, positions
    lm_course.gpt           chapters 5-6: GPT, GPT-2 weights, KV cache
    lm_course.sampling      chapter 6: greedy, temperature, top-k/p, beams
    lm_course.viz           plots;  lm_course.widgets: interactive widgets
    lm_course.exercises     the exercise checkers, one module per chapter
"""

__version__ = "0.1.0"
