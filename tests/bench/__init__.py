"""Tests of tfrec/bench/."""
