"""Entry point of the ``sacgmm`` command: discovers the subcommand modules of this package."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import sacgmm
import sacgmm.cli as cli_pkg

_NOT_SUBCOMMANDS = {"main", "common"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sacgmm",
        description="SAC-GMM: robot skills from demonstrations, refined by reinforcement learning.")
    parser.add_argument("--version", action="version", version=f"sacgmm {sacgmm.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_SUBCOMMANDS:
            continue
        module = importlib.import_module(f"sacgmm.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"sacgmm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sacgmm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
