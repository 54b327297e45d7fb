"""Training: environment, sharding + fused optimizers, the loop, callbacks, checkpoints."""
