"""Distributed training adapters: run :func:`recsys.training.job.run_training` unchanged per worker."""
