"""Tests of tfrec/codec/."""
