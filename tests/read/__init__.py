"""Tests of tfrec/read/."""
