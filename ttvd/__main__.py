from ttvd.cli.main import main

raise SystemExit(main())
