"""recsys: a CTR / recommendation feature-learning engine.

Raw logs -> Polars/Arrow ingestion -> TorchRec embedding tables -> models -> training
-> exported bundle. Importing the package has no side effects (no logging set-up, no I/O).
"""

__version__ = "0.1.0"
