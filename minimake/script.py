"""What ``-n`` prints, and a real run echoes, for a shell recipe: make's script, with the
automatic variables a recipe reads (``$TARGET``, ``$TARGETS``, ``$DEP``, ``$DEPS``) replaced
by their values, quoted for the shell. Only what is shown: the command that runs is unchanged.
"""

from __future__ import annotations

import re
import shlex

from minimake.task import Task, describe_recipe

# $NAME or ${NAME}, the longer name first; a name that goes on ($TARGET_DIR) is another one.
_VARIABLE = re.compile(r"\$(?:\{(TARGETS|TARGET|DEPS|DEP)\}|(TARGETS|TARGET|DEPS|DEP)(?![\w]))")
# Linux refuses one environment string longer than this (MAX_ARG_STRLEN, the NUL included):
# a longer $DEPS or $TARGETS is left unset (its list is in $DEPS_FILE), and shown as written.
ENV_STRING_LIMIT = 32 * 4096
_IN_DOUBLE_QUOTES = str.maketrans({c: "\\" + c for c in '"\\$`'})


def shown_recipe(declared: Task, target: str | None = None) -> list[str]:
    """The recipe as make's ``-n`` prints it: each shell line with the automatic variables
    replaced (``target``: the task's ``$TARGET`` when it has several targets). Inside single
    quotes the shell leaves ``$TARGET`` as written, and so does this; a callable is shown as
    its call."""
    lines = describe_recipe(declared)
    if not isinstance(declared.recipe, (str, tuple)):
        return lines
    if not any("$" in line for line in lines):
        return lines
    deps = tuple(dict.fromkeys(declared.deps))
    values = {
        "TARGET": (target or declared.targets[0],),
        "TARGETS": declared.targets,
        "DEP": declared.deps[:1],
        "DEPS": deps,
    }
    for name in ("TARGETS", "DEPS"):
        if len(name) + sum(len(word) + 1 for word in values[name]) + 1 > ENV_STRING_LIMIT:
            del values[name]  # unset in the recipe's environment: shown as written
    return [expand(line, values) for line in lines]


def expand(line: str, values: dict[str, tuple[str, ...]]) -> str:
    """``line`` with each ``$NAME`` of ``values`` replaced by its words: quoted for the shell
    outside quotes, escaped inside double quotes, left alone inside single quotes."""
    if "'" not in line and '"' not in line and "\\" not in line:  # no quoting: one pass in C
        return _VARIABLE.sub(lambda found: _quoted(found, values), line)
    shown: list[str] = []
    quote = ""  # the quote we are inside: "", "'" or '"'
    at = 0
    while at < len(line):
        char = line[at]
        if char == "\\" and quote != "'":
            shown.append(line[at : at + 2])
            at += 2
            continue
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        elif char == "$" and quote != "'":
            found = _VARIABLE.match(line, at)
            words = values.get(found.group(1) or found.group(2)) if found else None
            if found and words is not None:
                if quote:
                    shown.append(" ".join(words).translate(_IN_DOUBLE_QUOTES))
                else:
                    shown.append(" ".join(shlex.quote(word) for word in words))
                at = found.end()
                continue
        shown.append(char)
        at += 1
    return "".join(shown)


def _quoted(found: re.Match[str], values: dict[str, tuple[str, ...]]) -> str:
    words = values.get(found.group(1) or found.group(2))
    if words is None:
        return found.group(0)
    return " ".join(shlex.quote(word) for word in words)
