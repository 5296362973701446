"""quantflow's accuracy-aware search: candidates judged by the task metric, ranked coarse to fine."""
