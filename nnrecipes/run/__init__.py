"""A run: its settings (read from the config once), its parts built from them, the epoch loop
and the engine (tensors in, dicts out), devices, processes and signals."""
