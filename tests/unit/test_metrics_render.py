"""``/metrics?name[]=...``: a poller that watches a few samples gets those samples only."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from streams.metrics import WorkerMetrics


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_named_samples_are_rendered_alone_and_with_the_values_of_the_whole_exposition() -> None:
    metrics = WorkerMetrics()
    metrics.events_processed.labels("order.placed").inc(3)
    metrics.events_processed.labels("customer.login").inc()
    metrics.ticks.inc(2)

    everything = _samples(metrics.render())
    asked = _samples(metrics.render(["lifecycle_events_processed_total", "lifecycle_ticks_total"]))

    assert {name for name, _ in asked} == {
        "lifecycle_events_processed_total",
        "lifecycle_ticks_total",
    }
    assert asked == {key: everything[key] for key in asked}
    assert asked[("lifecycle_events_processed_total", (("type", "order.placed"),))] == 3
    assert len(everything) > 5 * len(asked)


def test_no_names_render_every_sample() -> None:
    metrics = WorkerMetrics()
    metrics.ticks.inc()
    bare, everything = _samples(metrics.render([])), _samples(metrics.render())
    assert bare.keys() == everything.keys()
    # The process's own samples (CPU seconds, memory) move between two renders.
    ours = [key for key in bare if key[0].startswith("lifecycle_")]
    assert ours
    assert {key: bare[key] for key in ours} == {key: everything[key] for key in ours}
