"""Tools for trying the worker on one machine: never imported by the worker itself.

``lifecycle demo`` (:mod:`~streams.dev.demo`), the simulated shop that drives it
(:mod:`~streams.dev.shop`) and its customers' answers to the emails
(:mod:`~streams.dev.responses`), the demo's progress line (:mod:`~streams.dev.progress`),
an SMTP sink that stores ``.eml`` files (:mod:`~streams.dev.mail_sink`) and a web inbox
over them (:mod:`~streams.dev.inbox`), the smaller fixed traffic of the tests and
benchmarks (:mod:`~streams.dev.traffic`), a worker run as a subprocess and watched
through its web port (:mod:`~streams.dev.worker_process`), and the brokers the demo and
the tests start (:mod:`streams.dev.brokers`). Their extra dependencies come with the
``embedded`` extra. The shipped campaigns land in ``streams/dev/campaigns`` in a wheel
(data only; see :mod:`streams.shipped_campaigns`).
"""

from streams.dev.demo import demo_main, run_demo
from streams.dev.inbox import Inbox
from streams.dev.mail_sink import MailSink
from streams.dev.responses import ResponseModel, Responses
from streams.dev.shop import Shop
from streams.dev.traffic import Traffic, generate
from streams.dev.worker_process import WorkerGroup, WorkerProcess, wait_for

__all__ = [
    # lifecycle demo
    "demo_main",
    "run_demo",
    # The simulated shop and its customers' answers
    "ResponseModel",
    "Responses",
    "Shop",
    # Its parts
    "Inbox",
    "MailSink",
    "Traffic",
    "WorkerGroup",
    "WorkerProcess",
    "generate",
    "wait_for",
]
