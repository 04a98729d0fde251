"""``python -m mobilebert_tf.benchmarks.peers``."""
import sys

from mobilebert_tf.benchmarks.peers.cli import main

sys.exit(main())
