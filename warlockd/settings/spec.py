"""Setting: one manifest `[[config]]` option with the keys this package adds (pure, no I/O).

The added keys are optional: `min`/`max` (numbers), `style` (properties: java | plain;
cfg: quake | source | teeworlds) and `struct` (ini: the key of an Unreal `Key=(Field=...)`
line; `key` then names a field of it). manifest.py checks them with `check_extras`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import InvalidInput

if TYPE_CHECKING:  # manifest.py imports check_extras from here
    from ..apps import App, ConfigOption

STYLES = {"properties": ("java", "plain"), "cfg": ("quake", "source", "teeworlds")}
DEFAULT_STYLE = {"properties": "java", "cfg": "quake"}
EXTRA_KEYS = ("min", "max", "style", "struct")


class Setting(NamedTuple):
    option: str  # the human name panels show and set-config takes
    key: str
    format: str  # ini | properties | json | cfg | cli
    type: str = "str"  # bool | int | float | str | text | list
    file: str | None = None  # relative to the instance directory; None for cli
    section: str | None = None  # ini section, or json object holding the key
    default: Any = None  # None: the game decides when the option is not set
    help: str = ""
    options: tuple[Any, ...] = ()
    group: str = ""
    min: float | None = None
    max: float | None = None
    style: str = ""  # see STYLES; "" for formats without styles
    struct: str | None = None

    @classmethod
    def of(cls, opt: ConfigOption) -> Setting:
        fields = {k: v for k, v in opt._asdict().items() if k in cls._fields}
        fields["style"] = fields.get("style") or DEFAULT_STYLE.get(opt.format, "")
        return cls(**fields)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_extras(t: dict[str, Any], fmt: str, kind: str) -> list[str]:
    """What is wrong with the added keys of one [[config]] table, as "key: expected ..."."""
    errors: list[str] = []
    for bound in ("min", "max"):
        if bound in t:
            value = t[bound]
            if kind not in ("int", "float"):
                errors.append(f"{bound}: only for type int or float")
            elif not _number(value) or (kind == "int" and not isinstance(value, int)):
                errors.append(f"{bound}: expected a number of type {kind}, got {value!r}")
    if _number(t.get("min")) and _number(t.get("max")) and t["min"] > t["max"]:
        errors.append("min: expected at most max")
    if "style" in t and t["style"] not in STYLES.get(fmt, ()):
        allowed = " | ".join(STYLES.get(fmt, ())) or f"nothing (format {fmt} has no styles)"
        errors.append(f"style: expected {allowed}, got {t['style']!r}")
    if "struct" in t:
        struct = t["struct"]
        if fmt != "ini":
            errors.append("struct: only for format ini")
        elif not isinstance(struct, str) or not struct or any(c in struct for c in "=\n[]"):
            errors.append(f"struct: expected an ini key, got {struct!r}")
    return errors


def settings_of(app: App) -> tuple[Setting, ...]:
    """Every [[config]] option of an app (manifest.py checked the added keys)."""
    return tuple(Setting.of(opt) for opt in app.configs)


def find(settings: tuple[Setting, ...], option: str) -> Setting:
    for s in settings:
        if s.option == option:
            return s
    known = ", ".join(repr(s.option) for s in settings) or "none"
    raise InvalidInput(f"unknown option {option!r}", hint=f"the options are {known}")
