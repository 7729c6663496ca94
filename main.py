"""Start Codette Desktop from a source checkout: ``python main.py [--headless] [--port P]``."""

import sys

from codette_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
