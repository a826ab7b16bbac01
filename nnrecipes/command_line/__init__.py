"""The plumbing of the command line that nnrecipes/cli.py (``nnrun``) and the other commands
share: the command line as nnrun rewrites it, --help and --cfg, the process's collector and
cores per job, what each mode does under torchrun, and what nnrun adjusts in Hydra's sweepers
and in submitit."""
