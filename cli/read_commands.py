"""`tfrec bench read` (to be written)."""
