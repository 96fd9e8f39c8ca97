from hpdream_runner.cli import main

raise SystemExit(main())
