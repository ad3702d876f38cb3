"""The course version, stamped into released labs and run reports."""
__version__ = "0.1.0"
