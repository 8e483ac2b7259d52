"""`python -m tools.provision`: assemble the bundled models (see `assemble`)."""

from tools.provision.assemble import main

raise SystemExit(main())
