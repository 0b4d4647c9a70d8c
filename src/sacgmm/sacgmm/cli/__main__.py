from sacgmm.cli.main import main

raise SystemExit(main())
