"""The `tfrec` command line (installed as tfrec.cli): thin Click commands over the tfrec library."""
