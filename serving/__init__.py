"""The scoring service: imports recsys.scoring and the features artifact only."""
