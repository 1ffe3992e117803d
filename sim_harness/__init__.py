"""PeopleLens sim_harness package."""
