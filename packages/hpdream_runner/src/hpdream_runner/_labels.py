"""How the runner labels imported rows with categories."""

from __future__ import annotations

from pathlib import Path

from hpdream_core import Classifier, Labeler, load_taxonomy


def make_labeler(taxonomy: Path | None = None) -> Labeler:
    """The labeler ``import`` uses: the classifier, with the default or the given taxonomy."""
    return Classifier(load_taxonomy(taxonomy) if taxonomy else None).label_row
