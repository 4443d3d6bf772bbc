"""The prediction log: a sample of a managed deployment's predictions, and the ground truth users attach to
them, as Parquet files in the project's folder of the object store (docs/serving.md#prediction-log)."""
