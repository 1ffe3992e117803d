"""PeopleLens registration_app package."""
