import sys

from ocirun.cli import main

sys.exit(main())
