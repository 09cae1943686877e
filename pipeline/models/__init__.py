"""Network families, the one trainer, device and thread policy, and the baseline registry."""
