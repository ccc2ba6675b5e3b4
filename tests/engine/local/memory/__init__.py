"""The memory recipes, quantized and single-file loading, and the model cache's budgets."""
