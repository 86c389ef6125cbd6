"""Tests of what users do wrong: bad usage, bad inputs, interruptions, read-only runs."""
