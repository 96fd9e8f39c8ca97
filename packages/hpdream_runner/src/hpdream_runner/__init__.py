"""hpdream runner."""
