"""The built-in tagger families, one module per capability.

Every module here is imported by :func:`capgym.tags.registry.load_builtin_taggers`, so
adding a family is adding a file; each module's docstring defines its capability and
exactly which span it marks (always the word or symbol *to be predicted*).
"""
