pytest_plugins = [
    "tests.support.kafka_fixtures",
    "tests.support.smtp_fixtures",
    "tests.support.worker_fixtures",
]
