"""Post-processing of simulation results."""

from nadsim.analysis.pk import summarize as summarize

__all__ = ["summarize"]
