#!/usr/bin/python3
"""manage.py: the Warlock-compatible entry point; the CLI lives in warlockd/cli/."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from warlockd.cli.entry import run

run()
