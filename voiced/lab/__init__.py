"""voiced's instruments: the benchmarks (``voiced bench ...``), the Twilio emulator
(``voiced dial``), the sim engines and the test doubles.

The daemon never imports this package (``tests/test_layers.py`` checks): what measures or
imitates the product stays out of the product. Only :mod:`voiced.cli`, above both, reaches
in here, and only for the commands that are instruments.
"""
