"""``python -m pipeline ...``: parsing from the schema and the commands as compositions of stages."""
