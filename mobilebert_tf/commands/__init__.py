"""Subcommands of the ``mobilebert`` console command; each module has ``configure(parser)`` and ``run(args)``.

The command protocol. ``mobilebert_tf/cli.py`` maps each command name to a module and its one-line help
(``COMMANDS``: name -> (module, help)) and imports only the module of the command given, so that
``mobilebert --help`` does not start TensorFlow. ``cli.main(argv)`` then:

1. makes the subparser ``mobilebert NAME`` (help and description from ``COMMANDS``) and calls the
   module's ``configure(parser)`` on it, then parses ``argv`` (bad flags: argparse's usage error, exit 2);
2. calls ``run(args)`` and exits with ``int(run(args) or 0)``. A ``MobileBertError`` (``UsageError``,
   ``ConfigError``, ``CheckpointError``, ...) or an ``OSError`` of the user's kinds (a missing file, a full
   disk, no permission) is printed as one line, ``mobilebert NAME: error: MESSAGE``, and exits with 1;
   Ctrl-C exits with 130; any other exception is a bug and keeps its traceback.

A command module (one per command here; ``export`` and ``benchmark`` follow the same protocol in their
own packages' ``cli`` modules, see ``COMMANDS``) defines:

``configure(parser)``: add the command's flags and positionals.

    Args:
        parser: argparse.ArgumentParser. The subparser of ``mobilebert NAME``; add arguments to it
            (``add_argument``, groups), nothing else.

    Returns:
        None.

``run(args)``: execute the command.

    Args:
        args: argparse.Namespace. The parsed command line: one attribute per argument ``configure``
            added (``--batch-size`` -> ``args.batch_size``), plus ``args.command``, the command name.

    Returns:
        int. The process exit code: 0 on success (None also counts as 0). Report failures of the user's
        input or environment by raising ``MobileBertError`` with a message that says what to do.

To add a command: write ``mobilebert_tf/commands/NAME.py`` with these two functions and add its entry to
``COMMANDS`` in ``cli.py``.

Example:
    >>> import argparse
    >>> from mobilebert_tf.commands import info
    >>> parser = argparse.ArgumentParser(prog="mobilebert info")
    >>> info.configure(parser)
    >>> info.run(parser.parse_args(["--preset", "mobilebert", "--seq-len", "128"]))  # doctest: +SKIP
    model                 seq       params      encoder       heads  GFLOPs enc  GFLOPs +MLM
    ...
    0
    >>> from mobilebert_tf.cli import main  # the console command's entry point
    >>> main(["info", "--all", "--json"])  # doctest: +SKIP
    0
"""
