"""``python -m ossl_handshake`` runs the command line."""

import sys

from ossl_handshake.cli.main import main

sys.exit(main())
