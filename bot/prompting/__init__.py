"""Prompt craft without Discord: inline ``--parameters``, ``{a, b}`` permutations and
``__wildcard__`` lists."""
