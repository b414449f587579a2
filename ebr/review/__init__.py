"""QA review by exception and release of a completed batch."""
