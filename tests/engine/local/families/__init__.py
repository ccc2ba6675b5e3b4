"""Tiny random-weight pipelines of the diffusion-transformer families (Flux, Chroma, SD3),
built from configs the way diffusers' own tests build ``get_dummy_components()`` and saved
with ``save_pretrained``, so that ``<PipelineClass>.from_pretrained(folder)`` loads them
offline. Nothing is downloaded."""
