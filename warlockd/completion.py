"""Bash completion for manage.py and warlock, generated from the table of commands.

It completes commands (both spellings), each command's options, instance ids (from the
registry's file names: no Python runs while you press Tab) and app slugs (the manifests'
file names). The Debian package installs it where bash-completion looks
(/usr/share/bash-completion/completions/warlock, and manage.py beside it); `manage.py
setup` from a checkout puts it in /etc/bash_completion.d/.

    python3 -m warlockd.completion > warlock     # for this host's paths
"""

from __future__ import annotations

import shlex

from .commands import GLOBAL, TABLE, Option
from .paths import Paths

_TEMPLATE = """\
# bash completion for warlock and manage.py: generated from warlockd's table of commands
# (python3 -m warlockd.completion); edits here are lost on the next upgrade.

_warlock_ids() {
    local f name
    for f in %(state)s/*.toml; do
        [ -e "$f" ] || continue
        name=${f##*/}; name=${name%%.toml}
        case $name in
            .*) ;;
            *.*) printf '%%s\\n' "${name#*.}" ;;
            *) printf 'default\\n' ;;
        esac
    done
}

_warlock_apps() {
    local f
    for f in %(installers)s/*.toml %(extra)s/*.toml; do
        [ -e "$f" ] || continue
        f=${f##*/}; printf '%%s\\n' "${f%%.toml}"
    done
}

_warlock() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands=%(commands)s
    local flags=%(flags)s
    local -A options=(%(options)s)
    COMPREPLY=()
    case $prev in
        --instance|-i)
            mapfile -t COMPREPLY < <(compgen -W "$(_warlock_ids)" -- "$cur"); return ;;
        --service)
            mapfile -t COMPREPLY < <(compgen -W "$(_warlock_ids | sed 's/^/game@/')" -- "$cur")
            return ;;
        --app)
            mapfile -t COMPREPLY < <(compgen -W "$(_warlock_apps)" -- "$cur"); return ;;
        --dir)
            mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
        --restore|--import)
            mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
        %(valued)s)
            return ;;
    esac
    local word command=
    for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
        if [[ -n $word && -n ${options[$word]+x} ]]; then command=$word; break; fi
    done
    if [[ $cur == -* ]]; then
        local these=$flags
        [[ -n $command ]] && these="${options[$command]} --help"
        mapfile -t COMPREPLY < <(compgen -W "$these" -- "$cur")
    elif [[ -z $command ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
    elif [[ $command == import || $command == restore ]]; then
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    fi
}

complete -F _warlock warlock manage.py
"""


def _flags(options: tuple[Option, ...]) -> list[str]:
    return [f for o in options for f in o.flags]


def script(paths: Paths) -> str:
    """The completion script for a host whose files are at `paths`."""
    commands = [c.name for c in TABLE]
    every = {o.name: o for c in TABLE for o in (*c.options, *GLOBAL)}
    root = _flags(tuple(every.values())) + [
        f for c in TABLE for f in (c.argument.flags if c.argument else (f"--{c.name}",))
    ]
    options = " ".join(
        f"[{c.name}]={shlex.quote(' '.join(_flags((*c.options, *GLOBAL))))}" for c in TABLE
    )
    special = {"--instance", "-i", "--service", "--app", "--dir", "--restore", "--import"}
    valued = sorted(
        {f for o in every.values() if o.takes_value for f in o.flags} - special
        | {f for c in TABLE if c.argument for f in c.argument.flags} - special
    )
    return _TEMPLATE % {
        "state": shlex.quote(str(paths.state)),
        "installers": shlex.quote(str(paths.installers)),
        "extra": shlex.quote(str(paths.extra_installers)),
        "commands": shlex.quote(" ".join(commands)),
        "flags": shlex.quote(" ".join([*root, "--help"])),
        "options": options,
        "valued": "|".join(valued),
    }


if __name__ == "__main__":
    print(script(Paths.from_env()), end="")
