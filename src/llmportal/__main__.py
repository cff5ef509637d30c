from llmportal.cli import main

raise SystemExit(main())
