"""The fastText quality classifier: the model and its text normalisation (`model`), the
documents it learns from (`documents`), and `train-classifier` (`train`). The pipeline stage
that applies it is corpusforge.stages.filters.quality_classifier."""
