"""nnrecipes: a command-line experiment runner for neural networks, driven by YAML configs."""
