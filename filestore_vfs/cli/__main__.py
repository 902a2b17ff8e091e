import sys

from filestore_vfs.cli import main

sys.exit(main())
