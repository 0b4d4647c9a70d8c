"""The ``sacgmm`` command-line tool: one entry point, one module per subcommand.

Each module in this package that defines ``register(subparsers)`` adds one subcommand; the
parser it adds sets ``func`` (called with the parsed arguments, returning an exit code).
"""
