"""The one source of defaults: every field of every run, with its meaning, and its validation.

`configs/*.py` start from `default_config()` and change only what makes their recipe; the command
line overrides any field (`--config.model.num_layers=2`). The returned ConfigDict is locked, so a
misspelt key is an error, and `validate` names the field, the value and what is allowed.
"""

import ml_collections

ARCHITECTURES = ("causal_decoder", "prefix_decoder", "encoder_decoder")
POSITION_ENCODINGS = ("relative", "rope", "absolute", "none")
BIDIRECTIONAL_PATTERNS = ("full", "forward_backward")
REMAT_POLICIES = ("none", "full", "minimal")
DTYPES = ("float32", "bfloat16")
MLP_ACTIVATIONS = ("gelu", "relu", "silu", "linear")

# The sizes ladder. T5 v1.1 shapes (small..xxl); xxl is also Wang et al. (2022): decoder-only with
# `num_layers` layers, encoder-decoder with `num_layers` + `num_layers`.
SIZES = {
    # For CPU tests and the laptop main job; vocab fits the byte vocabulary (259 + 100 extra ids).
    "tiny": dict(d_model=128, num_heads=4, head_dim=32, d_ff=256, num_layers=2, vocab_size=384),
    "small": dict(d_model=512, num_heads=6, head_dim=64, d_ff=1024, num_layers=8, vocab_size=32128),
    "base": dict(d_model=768, num_heads=12, head_dim=64, d_ff=2048, num_layers=12, vocab_size=32128),
    "large": dict(d_model=1024, num_heads=16, head_dim=64, d_ff=2816, num_layers=24, vocab_size=32128),
    "xl": dict(d_model=2048, num_heads=32, head_dim=64, d_ff=5120, num_layers=24, vocab_size=32128),
    "xxl": dict(d_model=4096, num_heads=64, head_dim=64, d_ff=10240, num_layers=24, vocab_size=32128),
}


def model_config(architecture: str = "causal_decoder", size: str = "tiny") -> ml_collections.ConfigDict:
    """The model section: architecture, shape (from the sizes ladder) and numerics."""
    if size not in SIZES:
        raise ValueError(f"model.size={size!r} is not a known size; allowed: {sorted(SIZES)}")
    m = ml_collections.ConfigDict()
    # Which network: causal_decoder (GPT), prefix_decoder (non-causal, UniLM) or encoder_decoder (T5).
    m.architecture = architecture
    # Name of the row of SIZES the shape fields below came from (informational once set).
    m.size = size
    # Vocabulary size of the embedding and the output layer (32128 = 32100 rounded up to 128).
    m.vocab_size = SIZES[size]["vocab_size"]
    # Width of the residual stream.
    m.d_model = SIZES[size]["d_model"]
    # Attention heads per layer.
    m.num_heads = SIZES[size]["num_heads"]
    # Width of one head; num_heads * head_dim need not equal d_model (T5 v1.1 small: 6 x 64 = 384).
    m.head_dim = SIZES[size]["head_dim"]
    # Hidden width of the MLP.
    m.d_ff = SIZES[size]["d_ff"]
    # One input projection per activation, multiplied together (T5X's MlpBlock): ("gelu", "linear")
    # is T5 v1.1's gated GELU, ("gelu",) GPT's plain MLP, ("relu",) T5 v1.0's.
    m.mlp_activations = ("gelu", "linear")
    # Decoder layers; the encoder-decoder has this many in the encoder and again in the decoder.
    m.num_layers = SIZES[size]["num_layers"]
    # Position information: relative (T5 bias buckets), rope, absolute (learned) or none (NoPE).
    m.position_encoding = "relative"
    # Relative-position buckets (T5: 32).
    m.relative_num_buckets = 32
    # Distance beyond which all relative positions share the last bucket (T5: 128).
    m.relative_max_distance = 128
    # RoPE maximum wavelength.
    m.rope_max_wavelength = 10_000
    # Longest sequence the learned absolute position table covers (also the KV-cache bound).
    m.max_length = 2048
    # Bidirectional attention (encoder, prefix region): full, or forward_backward (Su: half the
    # heads lower-triangular, half upper-triangular).
    m.bidirectional_pattern = "full"
    # Share the input embedding with the output layer (T5 v1.1: False).
    m.tie_embeddings = False
    # Dropout after attention, MLP and embeddings (T5 v1.1 pretraining: 0).
    m.dropout_rate = 0.0
    # Activation/compute dtype; parameters stay in param_dtype, logits are always float32.
    m.dtype = "float32"
    # Parameter storage dtype.
    m.param_dtype = "float32"
    # Rematerialisation of each scanned layer: none, full (save nothing) or minimal (save matmuls).
    m.remat_policy = "none"
    # Layers per iteration of the scan over layers: 1 keeps compile time flat in depth; more
    # (up to num_layers: fully unrolled) lets XLA fuse across layers and skip the scan's buffers.
    m.scan_unroll = 1
    # Weight of the z-loss, log(Z)^2, that keeps the softmax normaliser near 1 (T5X: 1e-4).
    m.z_loss = 1e-4
    # Label smoothing of the cross-entropy targets (T5X default 0).
    m.label_smoothing = 0.0
    return m


def data_config() -> ml_collections.ConfigDict:
    """The data section: corpus, tokenizer, objective, lengths, batching (owned by t5x_style.data)."""
    d = ml_collections.ConfigDict()
    # Text source: an embedded corpus (wiki_en, shakespeare, mix; a slice as wiki_en_first300)
    # or a tfds name prepared in array_record (c4/en:3.1.0, wiki40b/en, lm1b).
    d.corpus = "wiki_en"
    # tfds data_dir ("" = ~/.cache/t5x_style/tensorflow_datasets or $T5X_STYLE_CACHE; gs:// on TPU).
    d.data_dir = ""
    # Fetch and prepare a missing standard tfds dataset; False fails at once with the command that
    # prepares it. (Embedded corpora are always prepared on first use, from pinned artifacts.)
    d.download = False
    # Feature of each tfds record that holds the text (c4, wiki40b, lm1b: "text").
    d.text_feature = "text"
    # Split to train on.
    d.train_split = "train"
    # Split to evaluate on; for embedded corpora, the held-out whole documents.
    d.eval_split = "validation"
    # "byte" (ids 3..258, no training) or the path of a SentencePiece .model (local or gs://).
    d.vocabulary = "byte"
    # T5 sentinels <extra_id_0..N-1> at the top of the vocabulary (extra_id_0 = the last id).
    d.extra_ids = 100
    # Pretraining objective: full_lm, prefix_lm, span_corruption or mlm.
    d.objective = "full_lm"
    # Tokens per example: the decoder sequence, or the encoder inputs for span_corruption
    # (512 -> targets 114, decoders read 626); see data.pipeline.model_feature_lengths.
    d.sequence_length = 512
    # Fraction of tokens corrupted by span_corruption and by mlm (T5, BERT: 0.15).
    d.noise_density = 0.15
    # Mean noise span length of span_corruption (T5: 3.0).
    d.mean_noise_span_length = 3.0
    # Pack several examples per row with segment ids and positions (T5X: True).
    d.pack = True
    # Seed of the document shuffle and of the objectives' randomness (split points, masks).
    d.seed = 0
    # Examples per global batch (all hosts together).
    d.batch_size = 16
    return d


def validate_data(d: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    _check_choice("data.objective", d.objective,
                  ("full_lm", "prefix_lm", "span_corruption", "mlm"))
    for field in ("sequence_length", "batch_size"):
        _check_positive(f"data.{field}", d[field])
    if not 0.0 < d.noise_density < 1.0:
        raise ValueError(f"data.noise_density={d.noise_density} must be in (0, 1)")
    if d.mean_noise_span_length < 1.0:
        raise ValueError(f"data.mean_noise_span_length={d.mean_noise_span_length} must be >= 1")
    if not isinstance(d.extra_ids, int) or d.extra_ids < 0:
        raise ValueError(f"data.extra_ids={d.extra_ids!r} must be an integer >= 0")
    if d.objective in ("span_corruption", "mlm") and d.extra_ids < 1:
        raise ValueError(f"data.objective={d.objective!r} needs sentinels; data.extra_ids="
                         f"{d.extra_ids} must be >= 1")


OPTIMIZERS = ("adafactor", "adamw")
SCHEDULES = ("rsqrt", "cosine")


def train_config() -> ml_collections.ConfigDict:
    """The training section: steps, optimizer, schedule (owned by t5x_style.train)."""
    t = ml_collections.ConfigDict()
    # Number of optimizer steps.
    t.num_steps = 100
    # adafactor (T5X's default: factored second moments, no momentum) or adamw.
    t.optimizer = "adafactor"
    # rsqrt: T5's constant learning_rate for warmup_steps, then learning_rate*sqrt(warmup/step);
    # cosine: linear warmup to learning_rate, then cosine decay to end_learning_rate_ratio of it.
    t.schedule = "rsqrt"
    # Peak learning rate (T5X: 1/sqrt(10_000) = 0.01 with Adafactor's parameter-scaled updates).
    t.learning_rate = 0.01
    # Steps of the constant (rsqrt) or linear (cosine) warm-up phase (T5X: 10_000).
    t.warmup_steps = 10_000
    # Final learning rate of the cosine schedule, as a fraction of the peak.
    t.end_learning_rate_ratio = 0.1
    # AdamW first-moment decay.
    t.adam_b1 = 0.9
    # AdamW second-moment decay (0.95 as in GPT-3 / nanoGPT).
    t.adam_b2 = 0.95
    # AdamW denominator epsilon.
    t.adam_eps = 1e-8
    # AdamW decoupled weight decay, applied to matrices only (not norms or biases).
    t.weight_decay = 0.1
    # Clip gradients to this global L2 norm before the optimizer; 0 turns clipping off.
    t.grad_clip_norm = 1.0
    # Split each batch into this many microbatches and sum their gradients (same update, less
    # activation memory).
    t.num_microbatches = 1
    # On a non-finite loss or gradient: False stops with an error naming the step; True skips it.
    t.skip_nonfinite = False
    # Log metrics (console, JSONL, TensorBoard) every this many steps.
    t.log_every = 10
    # Held-out loss every this many steps (and at the end); 0 turns it off.
    t.eval_every = 100
    # Number of held-out batches each evaluation averages over.
    t.eval_batches = 4
    return t


def mesh_config() -> ml_collections.ConfigDict:
    """The mesh section: how devices are arranged (owned by t5x_style.partitioning)."""
    m = ml_collections.ConfigDict()
    # Data-parallel ways within a slice; -1 fills the devices the other axes leave.
    m.data = -1
    # Fully-sharded data-parallel ways (batch AND parameters/optimizer state split) within a slice.
    m.fsdp = 1
    # Tensor-parallel ways (heads, mlp, vocab split) within a slice.
    m.tensor = 1
    # Slices (over DCN) along the data axis; the product of dcn_* is the number of slices.
    m.dcn_data = 1
    # Slices along the fsdp axis.
    m.dcn_fsdp = 1
    # Slices along the tensor axis.
    m.dcn_tensor = 1
    # Call jax.distributed.initialize() and let JAX detect the cluster (TPU pod, SLURM, MPI).
    m.distributed = False
    # host:port of process 0 for an explicit multi-process run; empty = single process (or detect).
    m.coordinator_address = ""
    # Number of processes of an explicit multi-process run (with coordinator_address).
    m.num_processes = 1
    # This process's index in an explicit multi-process run (with coordinator_address).
    m.process_id = 0
    return m


def checkpoint_config() -> ml_collections.ConfigDict:
    """The checkpoint section: when to save, how many to keep, what to load (checkpoints.py)."""
    k = ml_collections.ConfigDict()
    # Save every this many steps (and at the last step, and on SIGTERM/SIGINT); 0 = only those.
    k.save_every = 100
    # Keep the newest this many checkpoints.
    k.keep = 3
    # Write checkpoints in a background thread (the step blocks only for the device-to-host copy).
    k.async_save = True
    # A checkpoint step directory whose parameters (only) initialise a fresh run: finetuning, or a
    # causal decoder loaded as a prefix decoder. Ignored when the workdir already has a checkpoint.
    k.init_params_from = ""
    return k


def eval_config() -> ml_collections.ConfigDict:
    """The eval section: zero/few-shot tasks, shots, sizes (owned by t5x_style.evaluation)."""
    e = ml_collections.ConfigDict()
    # Tasks or suites: "bigbench:<task>", "bigbench:t0" (T0's 14), "bigbench:extra" (COPA-, SIQA-,
    # HellaSwag-like six), "heldout:lambada", "heldout:description", or a path to a .json/.jsonl task.
    e.tasks = ("heldout:lambada", "heldout:description", "bigbench:t0", "bigbench:extra")
    # Few-shot counts to evaluate every task at (lm-evaluation-harness num_fewshot).
    e.shots = (0, 1, 5)
    # At most this many scored items per task (per BIG-bench subtask), subsampled with sample_seed.
    e.max_items = 500
    # Seed of the per-task item subsample and of the held-out tasks' distractors and choice order.
    e.sample_seed = 0
    # Seed of the few-shot demonstrations (lm-evaluation-harness: 1234).
    e.fewshot_seed = 1234
    # Requests per scoring batch; a multiple of the mesh's batch shards.
    e.batch_size = 32
    # Longest scored row in tokens (context + continuation; the encoder's and the decoder's each for
    # the encoder-decoder); contexts are truncated from the left to fit.
    e.max_length = 512
    # Embedded corpus whose held-out documents make the heldout:* tasks.
    e.heldout_corpus = "wiki_en"
    # Bootstrap resamples for the standard errors.
    e.bootstrap_iters = 1000
    # Run the suite every this many training steps (and at the end); 0 = never during training.
    e.every_steps = 0
    return e


def validate_train(t: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    _check_choice("train.optimizer", t.optimizer, OPTIMIZERS)
    _check_choice("train.schedule", t.schedule, SCHEDULES)
    for field in ("num_steps", "warmup_steps", "num_microbatches", "log_every", "eval_batches"):
        _check_positive(f"train.{field}", t[field])
    if not t.learning_rate > 0:
        raise ValueError(f"train.learning_rate={t.learning_rate} must be > 0")
    if t.grad_clip_norm < 0 or t.eval_every < 0:
        raise ValueError(f"train.grad_clip_norm={t.grad_clip_norm} and train.eval_every="
                         f"{t.eval_every} must be >= 0 (0 turns them off)")


def validate_mesh(m: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    for field in ("data", "fsdp", "tensor"):
        if m[field] != -1:
            _check_positive(f"mesh.{field}", m[field])
    for field in ("dcn_data", "dcn_fsdp", "dcn_tensor", "num_processes"):
        _check_positive(f"mesh.{field}", m[field])
    if not 0 <= m.process_id < m.num_processes:
        raise ValueError(f"mesh.process_id={m.process_id} must be in [0, mesh.num_processes="
                         f"{m.num_processes})")


def validate_checkpoint(k: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    _check_positive("checkpoint.keep", k.keep)
    if not isinstance(k.save_every, int) or k.save_every < 0:
        raise ValueError(f"checkpoint.save_every={k.save_every!r} must be an integer >= 0")


def validate_eval(e: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    for field in ("max_items", "batch_size", "max_length", "bootstrap_iters"):
        _check_positive(f"eval.{field}", e[field])
    if not e.tasks or any(not isinstance(t, str) or not t for t in e.tasks):
        raise ValueError(f"eval.tasks={e.tasks!r} must be a non-empty tuple of task names")
    if not e.shots or any(not isinstance(s, int) or s < 0 for s in e.shots):
        raise ValueError(f"eval.shots={e.shots!r} must be a non-empty tuple of integers >= 0")
    if not isinstance(e.every_steps, int) or e.every_steps < 0:
        raise ValueError(f"eval.every_steps={e.every_steps!r} must be an integer >= 0")


def default_config() -> ml_collections.ConfigDict:
    """Every field of a run with its default; `configs/*.py` change a few and lock nothing else."""
    c = ml_collections.ConfigDict()
    c.model = model_config()
    c.data = data_config()
    c.train = train_config()
    c.mesh = mesh_config()
    c.checkpoint = checkpoint_config()
    c.eval = eval_config()
    # Seed for parameter initialisation and dropout.
    c.seed = 0
    return c


def _check_choice(field: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{field}={value!r} is not allowed; allowed: {list(allowed)}")


def _check_positive(field: str, value) -> None:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(f"{field}={value!r} must be a positive integer")


def validate_model(m: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the field, the value and what is allowed."""
    _check_choice("model.architecture", m.architecture, ARCHITECTURES)
    _check_choice("model.position_encoding", m.position_encoding, POSITION_ENCODINGS)
    _check_choice("model.bidirectional_pattern", m.bidirectional_pattern, BIDIRECTIONAL_PATTERNS)
    _check_choice("model.remat_policy", m.remat_policy, REMAT_POLICIES)
    _check_choice("model.dtype", m.dtype, DTYPES)
    _check_choice("model.param_dtype", m.param_dtype, DTYPES)
    for field in ("vocab_size", "d_model", "num_heads", "head_dim", "d_ff", "num_layers",
                  "scan_unroll", "relative_num_buckets", "relative_max_distance", "max_length"):
        _check_positive(f"model.{field}", m[field])
    if not m.mlp_activations:
        raise ValueError(f"model.mlp_activations={m.mlp_activations!r} is empty; allowed: a "
                         f"non-empty tuple of {list(MLP_ACTIVATIONS)}")
    for activation in m.mlp_activations:
        _check_choice("model.mlp_activations", activation, MLP_ACTIVATIONS)
    if m.position_encoding == "rope" and m.head_dim % 2:
        raise ValueError(f"model.head_dim={m.head_dim} must be even for position_encoding='rope'")
    if m.bidirectional_pattern == "forward_backward" and m.num_heads % 2:
        raise ValueError(f"model.num_heads={m.num_heads} must be even for "
                         "bidirectional_pattern='forward_backward' (half forward, half backward)")
    if not 0.0 <= m.dropout_rate < 1.0:
        raise ValueError(f"model.dropout_rate={m.dropout_rate} must be in [0, 1)")


def validate_pairing(config: ml_collections.ConfigDict) -> None:
    """Checks between sections: the objective suits the architecture, the sequence is long enough
    for the objective, the vocabulary fits the embedding, the positions fit the position table."""
    from t5x_style.data import features, pipeline, tokenizer  # Late: data imports this module.

    features.converter(config.model.architecture, config.data.objective)  # Raises if unsuitable.
    lengths = pipeline.model_feature_lengths(config)
    vocabulary = config.data.vocabulary
    if vocabulary == "byte":  # A SentencePiece model is checked when the pipeline loads it.
        size = tokenizer.get_vocabulary(vocabulary, config.data.extra_ids).vocab_size
        if size > config.model.vocab_size:
            raise ValueError(f"model.vocab_size={config.model.vocab_size} is smaller than the "
                             f"{vocabulary!r} vocabulary ({size} ids); allowed: >= {size}")
    longest = max(lengths.values())
    if longest > config.model.max_length:
        raise ValueError(f"model.max_length={config.model.max_length} is shorter than the longest "
                         f"sequence the data makes ({lengths}); allowed: >= {longest}")


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Checks every section; returns the config so calls chain."""
    validate_model(config.model)
    validate_data(config.data)
    validate_pairing(config)
    validate_train(config.train)
    validate_mesh(config.mesh)
    validate_checkpoint(config.checkpoint)
    validate_eval(config.eval)
    return config


def finalize(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Locks a config (new keys are errors from here on) and validates it."""
    config.lock()
    return validate(config)
