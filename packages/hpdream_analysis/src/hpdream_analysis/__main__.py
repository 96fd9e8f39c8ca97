"""``python -m hpdream_analysis report LOGS... -o DIR``: reports without the runner (no torch)."""

from hpdream_analysis._report import main

raise SystemExit(main())
