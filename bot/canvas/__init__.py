"""Canvas work on Pillow images for Vary (Region), Zoom Out, Pan and Make Square: masks, preset
regions, outpaint geometry and mask previews. Pure functions: no Discord, no engine."""
