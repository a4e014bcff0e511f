"""python3 -m warlockd.daemon: warlockd.service's main process (from a checkout)."""

from .loop import main

raise SystemExit(main())
