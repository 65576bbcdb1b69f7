"""Input pipelines: TFDS datasets (downloaded or built locally) to sharded device batches."""
