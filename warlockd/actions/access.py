"""api-key and user: who may use the HTTP API (web/keys.py, web/users.py keep them).

`api-key create --name N --scope S [--only ID]...` makes a key and returns its text once:
only its hash is stored. `api-key list` and `api-key revoke --name N` (a name or a key id).
`user add --name N [--scope S] [--only ID]...`, `user passwd --name N`, `user remove --name
N`, `user list`: dashboard accounts, their passwords hashed with argon2id. The CLI reads a
password from a prompt (typed twice) or the first line of stdin, never from argv (any user
reads another's command line in /proc); the HTTP API hands it over in Args.password.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import InvalidInput
from ..host import Host
from ..web import WebFiles
from ..web.keys import KeyStore
from ..web.principal import Scope
from ..web.users import UserStore, read_password
from . import Args, Outcome

KEY_ACTIONS = ("create", "list", "revoke")
USER_ACTIONS = ("add", "passwd", "remove", "list")


def _action(command: str, given: str | None, choices: Sequence[str]) -> str:
    if given is None or given not in choices:
        raise InvalidInput(
            f"{command} {given or ''}: expected one of {', '.join(choices)}".replace("  ", " "),
            hint=f"warlock {command} {choices[0]} --name NAME",
        )
    return given


def _name(command: str, action: str, args: Args) -> str:
    if not args.instance_name:
        raise InvalidInput(f"{command} {action} needs --name", hint=f"{command} {action} --name N")
    return args.instance_name


def _scope(args: Args) -> Scope | None:
    return None if args.scope is None else Scope.parse(args.scope)


def _only(args: Args) -> list[str] | None:
    return list(args.only) or None


def keys(host: Host) -> KeyStore:
    return KeyStore(WebFiles.under(host.paths.state).api_keys)


def users(host: Host) -> UserStore:
    return UserStore(WebFiles.under(host.paths.state).users)


def do_api_key(host: Host, args: Args) -> Outcome:
    action = _action("api-key", args.action, KEY_ACTIONS)
    store = keys(host)
    if action == "list":
        return Outcome([k.to_dict() for k in store.list()])
    name = _name("api-key", action, args)
    if action == "revoke":
        key = store.revoke(name)
        return Outcome(key.to_dict(), (f"API key {key.name!r} ({key.id}) revoked",))
    key, text = store.create(name, _scope(args) or Scope.READ, _only(args))
    where = "every instance" if key.instances is None else ", ".join(key.instances)
    note = f"API key {key.name!r} made: scope {key.scope}, {where}; it will not be shown again"
    return Outcome(key.to_dict() | {"key": text}, (note,))


def do_user(host: Host, args: Args) -> Outcome:
    action = _action("user", args.action, USER_ACTIONS)
    store = users(host)
    if action == "list":
        return Outcome([u.to_dict() for u in store.list()])
    name = _name("user", action, args)
    if action == "remove":
        user = store.remove(name)
        return Outcome(user.to_dict(), (f"user {name!r} removed; their sessions end",))
    password = args.password if args.password is not None else read_password(sys.stdin)
    if action == "passwd":
        user = store.set_password(name, password)
        return Outcome(user.to_dict(), (f"password of {name!r} changed; their sessions end",))
    user = store.add(name, password, _scope(args), _only(args))
    return Outcome(user.to_dict(), (f"user {name!r} added with scope {user.scope}",))
