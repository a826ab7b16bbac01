"""YAML configs of nnrun; shipped inside the package as nnrecipes.configs."""
