"""Settings that are no longer offered, as older run directories and checkpoints still hold them.

A removed option is listed with the value that left it off. Loading a saved configuration
drops such a key when it has that value (the run behaved as it would today) and raises
``ValueError`` naming it otherwise (the run used behaviour that no longer exists).
``docs/findings.md`` says what each option did and which commit still has its code.
"""
from __future__ import annotations

from typing import Any, Mapping

#: the off value of an option that had no effect on its own (e.g. a parameter of another
#: removed option): any saved value is accepted
ANY = object()


def drop_retired(settings: Mapping[str, Any], retired: Mapping[str, Any],
                 prefix: str = "") -> dict[str, Any]:
    """``settings`` without its ``retired`` keys; ``ValueError`` naming the first one whose value
    is not the off value. ``prefix`` goes before key names in the message (e.g. ``"sac."``)."""
    out = {}
    for key, value in settings.items():
        if key not in retired:
            out[key] = value
        elif retired[key] is not ANY and value != retired[key]:
            raise ValueError(f"{prefix}{key}={value!r}: this option was removed (only its off "
                             f"value {retired[key]!r} is accepted); see docs/findings.md")
    return out
