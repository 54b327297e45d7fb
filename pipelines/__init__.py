"""Thin job entry points: ``main(argv) -> Result``; the CLI dispatches to them."""
