"""Vary (Region): repaint the part of a result a member marks by uploading a mask, picking a
preset region or naming it in words, previewed and confirmed before anything is charged."""
