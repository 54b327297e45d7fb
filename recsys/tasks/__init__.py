"""Tasks: the loss and metric updates, kept out of the models."""
