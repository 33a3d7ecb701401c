"""``python -m ossl_handshake`` runs the command line."""

import sys

from ossl_handshake.cli import main

sys.exit(main())
