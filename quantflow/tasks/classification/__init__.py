"""Image classification: class-folder and labels-file datasets, class-score decoder, top-k accuracy."""
