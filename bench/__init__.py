"""PeopleLens bench package."""
