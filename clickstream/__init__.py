"""The front doors of the platform: the ``clickstream`` command line and ``make demo``.

A veneer over the library :mod:`loader`, which never imports this package: configuration and the warehouse
are resolved here, once per command, and handed to the library.
"""
