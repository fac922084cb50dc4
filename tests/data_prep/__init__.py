"""Tests of clarinet_ddsp.data_prep."""
