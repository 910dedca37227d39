"""The oracle's own tests, on cases computed by hand (python3 -m unittest)."""

import unittest

import oracle
from oracle import Iteration, Request


def req(t, outcome="accepted", service=0.01, name="health", flow="health"):
    return Request(end_ms=t, flow=flow, name=name, outcome=outcome, service_s=service)


class ClientTruth(unittest.TestCase):
    def test_every_outcome_but_accepted_is_bad(self):
        rs = [req(100), req(200, "status"), req(300, "cancelled"), req(400, "check"), req(5000)]
        self.assertEqual(oracle.error_rate(rs, (0, 1000)), 3 / 4)
        self.assertEqual(oracle.error_rate(rs, (1000, 6000)), 0.0)
        self.assertIsNone(oracle.error_rate(rs, (6000, 7000)))

    def test_fast_failures_are_not_counted_and_slow_ones_are_late(self):
        rs = [
            req(1, service=0.5),
            req(2, service=2.5),
            req(3, "status", service=0.001),
            req(4, "timeout", service=30.0),
        ]
        # Events: two accepted and the slow timeout; one accepted within 2 s.
        self.assertAlmostEqual(oracle.latency_share(rs, (0, 10), 2.0), 1 / 3)

    def test_completion_is_the_last_step_over_the_first(self):
        rs = [req(i, name="start") for i in range(10)]
        rs += [req(i, name="done") for i in range(7)]
        rs += [req(8, "status", name="done")]
        self.assertEqual(oracle.completion(rs, (0, 100), "start", "done"), 0.7)
        self.assertTrue(oracle.missed("onboarding_completion_rate", 0.7))

    def test_jobs_fail_when_they_do_not_complete(self):
        its = [
            Iteration(1, "p", "completed", 1.0),
            Iteration(2, "p", "failed", 0.5),
            Iteration(3, "p", "interrupted", 40.0),
            Iteration(4, "p", "completed", 31.0),
            Iteration(5, "other", "failed", 1.0),
        ]
        self.assertEqual(oracle.job_failure(its, (0, 10), "p"), 2 / 4)
        # Completed within 30 s: one; events: two completed and the cut one past 30 s.
        self.assertAlmostEqual(oracle.job_duration_share(its, (0, 10), "p", 30.0), 1 / 3)


class ServerTruth(unittest.TestCase):
    def test_a_counter_delta_spans_the_edges_and_counts_restarts_from_zero(self):
        samples = [(0, 100.0), (1000, 110.0), (2000, 5.0), (3000, 20.0), (4000, 30.0)]
        # From 100 (at 0) to 20 (at 3000): +10, then 5 after the restart, then +15.
        self.assertEqual(oracle.delta(samples, (500, 2500)), 30.0)
        self.assertIsNone(oracle.delta(samples, (500, 9000)), "no sample after the end")

    def test_a_bucket_share_and_a_ratio(self):
        bucket = [(0, 0.0), (10_000, 90.0)]
        count = [(0, 0.0), (10_000, 100.0)]
        self.assertEqual(oracle.bucket_share(bucket, count, (0, 10_000)), 0.9)
        self.assertTrue(oracle.missed("database_query_time_p95", 0.9))
        self.assertEqual(oracle.ratio([(0, 0.0), (1, 2.0)], [(0, 0.0), (1, 100.0)], (0, 1)), 0.02)

    def test_cpu_is_its_worst_stretch(self):
        # A full core for 16 s of 40 s: 40% on average, 100% at worst over 5 s.
        cpu = [(t * 1000.0, float(min(t, 16))) for t in range(41)]
        self.assertAlmostEqual(oracle.rate(cpu), 0.4)
        self.assertAlmostEqual(oracle.worst_rate(cpu, (0, 40_000), 5.0), 1.0)
        self.assertEqual(oracle.rate_span((0, 40_000), 1.0), 5.0)
        self.assertEqual(oracle.rate_span((0, 40_000), 15.0), 40.0)
        self.assertEqual(oracle.rate_span((0, 600_000), 15.0), 300.0)

    def test_an_outage_overlapping_the_window_misses_up(self):
        self.assertTrue(oracle.down_during([(900, 1100)], (1000, 2000)))
        self.assertFalse(oracle.down_during([(100, 900)], (1000, 2000)))


if __name__ == "__main__":
    unittest.main()
