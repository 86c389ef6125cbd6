"""The explorer: a local web app over a run (``capgym view RUN``).

Token boxes come from :mod:`capgym.render`; this package adds the explorer's database
(:mod:`capgym.view.cache`), its validated queries (:mod:`capgym.view.queries`), the
server (:mod:`capgym.view.server`) and a fabricated demo run (:mod:`capgym.view.demo`).
"""
