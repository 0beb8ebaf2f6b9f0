from ttvd.cli import main

raise SystemExit(main())
