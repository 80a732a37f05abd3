"""Tests of tfrec/check/."""
