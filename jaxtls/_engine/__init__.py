"""The engine: operators, sectors, block-tridiagonal solvers, implicit derivatives.

Never imports `jaxtls._models` or `jaxtls._workflows` (tests/test_architecture.py).
"""
