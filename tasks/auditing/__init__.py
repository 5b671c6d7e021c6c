"""Helpers of the audit step: the dataset card drawn from the `audit` and `manifest` tables."""
