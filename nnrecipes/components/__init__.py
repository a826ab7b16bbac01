"""The options of each config group, one package per group (core/registry.py's GROUP_PACKAGES):
datasets/, models/, optimizers/, schedulers/, loggers/. Each module in a package declares its
options with ``declare(...)``; a new option is a file there and a YAML in configs/<group>/."""
