"""lm_course: the helper package of "From n-grams to GPT-2".

One module per idea; each docstring names the notebook section that explains
it. Importing the package is cheap: heavy modules load when first used.

    lm_course.data            the corpus (Shakespeare, split by play) and the names list
    lm_course.corpus          the corpus as character ids: corpus_tokenizer(), corpus_ids(split)
    lm_course.tokenizers      characters, words, byte-level BPE, GPT-2's BPE
    lm_course.interface       the LanguageModel protocol, the one inference rule, the one generate
    lm_course.draws           the one seeding rule for sampling, and the draw of a token
    lm_course.scoring         ln p(target) from logits, and long texts in overlapping windows
    lm_course.logit_filters   one decoding step: repetition penalty, temperature, top-k, top-p
    lm_course.evaluate        bits per token / perplexity of any model
    lm_course.scoreboard      every chapter's numbers, and their plot
    lm_course.unigram         chapter 0's unigram model
    lm_course.ngram           chapter 1: n-grams up to Kneser-Ney
    lm_course.ngram_counts    chapter 1: the n-gram counts' store, and the bigram table of names
    lm_course.train           the training loop (chapters 2, 3, 5, 7)
    lm_course.optim           the one LR schedule and the one AdamW grouping, shared with fine-tuning
    lm_course.train_state     the resumable training state file of the loop
    lm_course.mlp             chapter 2: Bengio et al.'s MLP language model
    lm_course.mixture         chapter 2: interpolated mixtures of models
    lm_course.rnn             chapter 3: RNN, LSTM and GRU language models
    lm_course.rnn_analysis    chapter 3: gradient norms, gates, context resets, units
    lm_course.rnn_training    chapter 3: stateful truncated back-propagation through time
    lm_course.attention       chapter 4: attention, masks, positions
    lm_course.toy_attention   chapter 4: the toy reversal / copy task
    lm_course.attention_view  chapters 4-6: bertviz views that draw offline
    lm_course.gpt_block       chapter 5: the GPT's config, attention, MLP and block
    lm_course.gpt             chapters 5-6: the GPT, its KV cache
    lm_course.gpt_decoding    chapter 6: fast decoding: the bfloat16 copy, the widgets' prefix cache
    lm_course.reference       the shipped models in one table (gpt, gpt-small, mlp, lstm): make, load
    lm_course.gpt2_weights    chapter 6: GPT-2's Hugging Face weights in and out of the GPT
    lm_course.hub             chapter 6: the Hugging Face hub, cache first, offline-safe
    lm_course.sampling        chapter 6: the batched decoder with a KV cache, beams, timings
    lm_course.genre_data      chapter 7: comedy-or-tragedy passages of the corpus, split by play
    lm_course.objectives      chapter 7: the causal and the masked pre-training objectives
    lm_course.classifier      chapter 7: the GPT classifier, and what its frozen parts compute once
    lm_course.finetune        chapter 7: fine-tuning a classifier, with the training loop's step
    lm_course.logistic_probe  chapter 7: a linear probe fitted to convergence (the control)
    lm_course.finetune_sweep  chapter 7: the learning-rate sweeps, read
    lm_course.genre_eval      chapter 7: accuracy, the paired comparison of two classifiers, the n-gram baseline
    lm_course.recipes         the shipped models' recipes, and train_recipe()
    lm_course.checkpoints     the one safetensors file of every course model: save_model, load_model, read_header
    lm_course.validation      the one set of argument checks: integers, numbers, token ids, finite logits
    lm_course.fileio          files written atomically, file locks, damaged files set aside
    lm_course.device          device choice (CUDA, then MPS, then the CPU), and a model's device
    lm_course.seeds           the one seed knob: course_seed() shifted by LM_COURSE_SEED
    lm_course.env             chapter 0: the versions report ("Check your setup")
    lm_course.viz             plots
    lm_course.widgets         interactive widgets
    lm_course.exercises       the exercise checkers, one module per chapter
    lm_course.slides          every chapter as slides: slide metadata, its checks, offline decks
    lm_course.classroom       is this machine ready for a class? (python -m lm_course classroom)
    lm_course.workspace       a student's own copy of the chapters; the homework edition (release)
    lm_course.grading         grade submitted notebooks with the course's checkers (python -m lm_course grade)
    lm_course.notebook_runner run a notebook in a fresh kernel, every cell, and collect what failed
    lm_course.your_gpt        chapter 8: a GPT assembled from the student's own saved exercise solutions
"""

__version__ = "0.1.0"
