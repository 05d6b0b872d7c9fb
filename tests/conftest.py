pytest_plugins = ["tests.support.kafka_fixtures", "tests.support.smtp_fixtures"]
