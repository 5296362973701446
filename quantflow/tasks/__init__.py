"""One folder per task: its datasets, decoders, metrics and task-specific extras. Every module here is imported by the
registries, so a provider is one file."""
