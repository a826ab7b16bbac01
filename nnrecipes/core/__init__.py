"""The bottom layer: the config schema and its declared ranges, the registry of options, the task
and its metrics, a run's status, users' own code, the console. Imports nothing above it."""
