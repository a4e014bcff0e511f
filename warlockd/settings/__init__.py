"""Settings: read and change a game instance's options in the game's own config files.

The API is in api.py (get_configs, set_config, Change); one module per file format (ini,
properties, jsonfile, cfg, and cli for options on the command line), values.py to check
and convert values, files.py for the file system, spec.py for the manifest's options.
Nothing is imported here: reading a manifest imports spec.py alone.
"""
