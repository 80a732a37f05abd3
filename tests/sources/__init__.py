"""Tests of tfrec/sources/."""
