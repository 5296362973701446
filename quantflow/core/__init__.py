"""What every stage shares and nothing heavy: errors, registries and plugins, config building blocks, paths and run
folders, provenance, progress, and the contracts (dataset adapter, decoder, metric) that tasks implement."""
