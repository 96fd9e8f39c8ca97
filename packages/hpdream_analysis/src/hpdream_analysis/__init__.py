"""hpdream analysis."""
