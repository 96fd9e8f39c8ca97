"""Sub-commands of ``hpdream-run``: one module each, with ``register(subparsers)``."""
