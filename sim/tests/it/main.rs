//! Integration tests for wardwatch-sim.
