"""Workflows over registered models: scans and stores, sensitivities, optimisation, plots,
the reproduce report and the command line.
"""
