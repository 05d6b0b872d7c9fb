# Local to the smtp branch until the shared conftest (kafka + smtp plugins) is merged.
pytest_plugins = ["tests.support.smtp_fixtures"]
