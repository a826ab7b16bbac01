"""What a command line says, read the same way everywhere: the key an override sets, whether it
is a sweep, which mode it asks for."""

from __future__ import annotations

from typing import List, Optional


def override_key(override: str) -> str:
    """``optimizer.lr`` for ``optimizer.lr=0.1``, ``+trainer.epochs=3`` or ``~seed``."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(args: List[str], key: str) -> Optional[str]:
    """The value the last override of ``key`` gives, unquoted; None if none does."""
    values = [arg.split("=", 1)[1] for arg in args if "=" in arg and override_key(arg) == key]
    return values[-1].strip("'\"") if values else None


def multirun(args: List[str]) -> bool:
    return "-m" in args or "--multirun" in args


def mode_of(args: List[str]) -> Optional[str]:
    """The mode the command line sets (mode=eval), if it sets one."""
    return override_value(args, "mode")
