"""``logger=none`` (the default): the run folder is the only record."""

from nnrecipes.components.loggers import LoggerConfig, RunLogger
from nnrecipes.core.registry import declare

declare("logger", "none", LoggerConfig, RunLogger)
