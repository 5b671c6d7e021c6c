"""Helpers of the judge stage: assembling a query's case and deciding from its votes."""
