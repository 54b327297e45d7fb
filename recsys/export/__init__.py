"""Exported bundles: what training hands to batch scoring and the service."""
