"""manage.py (also installed as `warlock`): the command line front door.

entry.py is where a call comes in: fast.py answers the panels' hot commands without
typer, full.py (typer) everything else; both are generated from the table of commands
(warlockd/commands.py) and hand their result to run.py, which calls the command and shows
its Outcome (JSON on stdout, tables from render.py, messages on stderr, the exit code).
"""
