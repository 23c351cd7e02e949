"""Test-set decontamination: the stage, the test sets it reads and its n-gram index."""
