"""Featurescope test suite and test-model infrastructure."""
