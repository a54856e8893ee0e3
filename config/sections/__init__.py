"""The slices of the settings, one module per concern.

:class:`config.settings.PostflowSettings` is all of them at once.
"""
