"""samcli: batch mask proposals from Segment Anything."""

__version__ = "0.1.0"
