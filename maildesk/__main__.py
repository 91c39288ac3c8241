"""Allow `python -m maildesk`."""

from maildesk.cli import main

raise SystemExit(main())
