"""The pipeline's models: adapters through the `tiny` profile, loading, fetching."""
