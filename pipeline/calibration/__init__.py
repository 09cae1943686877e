"""The calibration study: claim cells that run the real stages on simulated prices."""
