"""`python -m admin extension setup --group X [--access member|owner] --url https://… [--dry-run]`:
admin.extension."""

from __future__ import annotations

import sys

from admin.extension import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
