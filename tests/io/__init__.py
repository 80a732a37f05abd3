"""Tests of tfrec/io/."""
