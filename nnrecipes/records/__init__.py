"""The run folder's records: checkpoints and atomic writes, summary.json, resuming, who may write
a folder, figures, provenance, and the summary of a sweep's or search's jobs."""
