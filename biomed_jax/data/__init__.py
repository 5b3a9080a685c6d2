"""Input side: tokenizer, dataset readers, tasks and Grain pipelines."""
