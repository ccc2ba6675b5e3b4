"""Memory recipes: where a model's weights live and in what precision, chosen for the GPU an
owner has (recipe.py), applied with diffusers' own APIs (load.py), accounted in the model cache
(cache.py)."""
