"""link: the join link a running instance announced (Assetto Corsa's acstuff.ru link).

The runner finds it in the game's output with the manifest's [link] pattern and keeps it
in the unit's status text, which systemd holds while the unit runs (links.py says why);
this reads it back from systemd, so it answers with warlockd.service down too.
"""

from __future__ import annotations

from .. import links
from ..apps import find_app
from ..errors import InvalidInput, WarlockError
from ..host import Host
from ..model import Status, status_of
from . import Args, Outcome, one


def do_link(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    app = find_app(host.paths, inst.app)
    if app.link is None:
        raise InvalidInput(f"{app.slug} announces no join link",
                           hint="players join it on its address and ports: get-ports")  # fmt: skip
    state = host.systemd.state(inst.unit)
    status = status_of(state.active, state.sub)
    if status not in (Status.RUNNING, Status.STARTING):
        raise WarlockError(f"{inst.id} is {status}: it has a join link only while it runs",
                           hint=f"manage.py --instance {inst.id} --start")  # fmt: skip
    link = links.of(state.status_text)
    if link is None:
        raise WarlockError(
            f"{inst.id} has not announced a join link yet",
            hint="Assetto Corsa's server prints it once the lobby has registered it: "
            '"Register to Lobby" 1, and its ports reachable from outside',
        )
    return Outcome(link, (f"{inst.id}: {inst.name}",))
