"""Batch scoring and the service's predictor: bundle -> click probabilities."""
