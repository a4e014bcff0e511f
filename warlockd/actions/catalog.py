"""apps: the games this host can run, from their manifests (shipped and the admin's), in a
shape programs read: slug, guid, title, how it installs, its ports, players, query, console
commands and the settings `set-config` takes. A broken manifest is named, not fatal."""

from __future__ import annotations

from typing import Any

from ..apps import App, find_app, load_manifest, manifest_files
from ..errors import WarlockError
from ..host import Host
from ..settings.spec import settings_of
from . import Args, Outcome


def describe(app: App) -> dict[str, Any]:
    return {
        "slug": app.slug,
        "guid": app.guid,
        "title": app.title,
        "install": app.install.source,
        "max_players": app.max_players,
        "query": app.query,
        "ports": [
            {
                "key": p.key,
                "protocol": str(p.protocol),
                "default": p.default,
                "description": p.description,
            }
            for p in app.ports
        ],
        "console": list(app.console.commands),
        "settings": [
            {
                "option": s.option,
                "type": s.type,
                "default": s.default,
                "help": s.help,
                "options": list(s.options),
                "group": s.group,
                "min": s.min,
                "max": s.max,
            }
            for s in settings_of(app)
        ],
    }


def do_apps(host: Host, args: Args) -> Outcome:
    if args.app:
        return Outcome([describe(find_app(host.paths, args.app))])
    rows, notes = [], []
    for path in manifest_files(host.paths):
        try:
            rows.append(describe(load_manifest(path, host.paths.bundled)))
        except WarlockError as e:
            notes.append(f"warning: skipped {path}: {e}")
    return Outcome(rows, tuple(notes))
