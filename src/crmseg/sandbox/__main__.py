"""``python -m crmseg.sandbox --crm salesforce|hubspot ...`` (see ``crmseg.sandbox.cli``)."""

import sys

from crmseg.sandbox.cli import main

if __name__ == "__main__":
    sys.exit(main())
