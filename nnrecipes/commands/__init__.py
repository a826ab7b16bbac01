"""What the commands (nnrecipes/cli.py, export.py, report.py, smoke.py) share: the command line
as nnrun rewrites it, --help and --cfg, one-line errors, the process's collector and cores, and
the modes besides training (mode=eval, mode=predict, mode=search)."""
