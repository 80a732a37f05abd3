"""Tests of tfrec/demo/."""
