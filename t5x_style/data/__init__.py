"""The data layer: real corpora by name, tfds builders, tokenizers, packing, the input pipeline.

What training and evaluation call:

    from t5x_style.data import pipeline, tfds_builder
    pipeline.make_pipeline(config, training=True, process_index=0, process_count=1)
        -> grain.IterDataset; iter() gives a DatasetIterator yielding dicts of
           int32[config.data.batch_size // process_count, length] (features: data/features.py);
           iterator.get_state() -> JSON-able dict, iterator.set_state(state) resumes exactly.
           training=False: data.eval_split once, in order, last batch padded with empty rows.
    pipeline.model_feature_lengths(config) -> {"decoder": L} or {"encoder": E, "decoder": D}
    tfds_builder.heldout_documents(corpus="wiki_en", data_dir="") -> list of dicts
        (text, title, description, topic, source, part): held-out whole documents for eval.
    tokenizer.get_vocabulary(config.data.vocabulary, config.data.extra_ids) -> Vocabulary

Errors about data are `errors.DataError` (a ValueError) with a message saying what to do.
Prepare the default corpus and a tokenizer: `python -m t5x_style.data prepare`.
"""
