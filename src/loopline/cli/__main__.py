"""`python -m loopline.cli`: the `loopline` command without the installed script."""

from __future__ import annotations

from . import main

raise SystemExit(main())
