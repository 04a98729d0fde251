"""Subcommands of the ``mobilebert`` console command; each module has ``configure(parser)`` and ``run(args)``."""
