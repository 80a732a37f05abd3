"""Tests of tfrec/write/."""
