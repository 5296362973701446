"""Where fanned-out work runs: in local processes (the default, no Ray needed) or as tasks on a Ray cluster."""
