"""Audits: faithfulness metrics, sanity checks, drift and reproducible reports."""
