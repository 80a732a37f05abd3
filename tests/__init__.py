"""tfrec tests; the folders mirror tfrec/."""
