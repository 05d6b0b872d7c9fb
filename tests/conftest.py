pytest_plugins = [
    "tests.support.kafka_fixtures",
    "tests.support.smtp_fixtures",
    "tests.support.worker_fixtures",
]


def pytest_report_header() -> str:
    from streams.dev.brokers.choice import choose_broker

    try:
        broker = choose_broker()
    except Exception as exc:  # the header must never stop the run; the fixtures report it
        return f"broker for integration tests: none ({exc})"
    return f"broker for integration tests: {broker.kind}"
