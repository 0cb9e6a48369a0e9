import sys

from motherfluxer_cli.main import main

sys.exit(main())
