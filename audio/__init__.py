"""PeopleLens audio package."""
