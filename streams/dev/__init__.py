"""Tools for trying the worker on one machine: never imported by the worker itself.

``lifecycle demo`` (:mod:`~streams.dev.demo`), the shop traffic it produces
(:mod:`~streams.dev.traffic`), an SMTP sink that stores ``.eml`` files
(:mod:`~streams.dev.mail_sink`), a worker run as a subprocess and watched through its web
port (:mod:`~streams.dev.worker_process`), and the brokers the demo and the tests start
(:mod:`streams.dev.brokers`). Their extra dependencies come with the ``embedded`` extra.
"""

from streams.dev.demo import demo_main, run_demo
from streams.dev.mail_sink import MailSink
from streams.dev.traffic import Traffic, generate
from streams.dev.worker_process import WorkerProcess, wait_for

__all__ = [
    # lifecycle demo
    "demo_main",
    "run_demo",
    # Its parts
    "MailSink",
    "Traffic",
    "WorkerProcess",
    "generate",
    "wait_for",
]
