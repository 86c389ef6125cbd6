"""Model backends, one file each, registered with :func:`capgym.models.registry.backend`.

Every module here is imported when the registry is first used; adding a format or a
source of models is adding one file with one decorated :class:`Backend` subclass.
"""
