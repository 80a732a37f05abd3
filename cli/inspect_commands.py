"""`tfrec verify` and `tfrec inspect` (to be written)."""
