"""Tests of tfrec/training/."""
