"""Feature ranking for prepared CTR datasets (OutRank-style relevance, redundancy, 3MR, quality).

Entry point: :func:`recsys.ranking.rank.rank_dataset`. Importing this package only
defines names (no I/O, no logging).
"""

from recsys.ranking.rank import RankResult, rank_dataset

__all__ = ["RankResult", "rank_dataset"]
