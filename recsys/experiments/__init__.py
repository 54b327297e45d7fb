"""Studies: many runs on one dataset (grid x seeds, or an ASHA search) on Ray Tune, with a
leaderboard, paired significance and a self-contained HTML report."""
