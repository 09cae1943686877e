"""The configuration schema: every setting, its default, its flag and its help, written once."""
