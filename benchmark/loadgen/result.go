package loadgen

import (
	"fmt"
	"slices"
	"time"
)

// Result is what one scenario run measured.
type Result struct {
	// Ops is the number of completed operations: requests, connections or
	// WebSocket round trips, depending on the scenario.
	Ops int64
	// Errors counts operations that failed (I/O error, unexpected status).
	Errors int64
	// FirstError is the first failure seen, for the report; nil if none.
	FirstError error
	// Bytes is the payload moved (WebSocket bulk only).
	Bytes int64
	// Elapsed is the measured wall time.
	Elapsed time.Duration
	// Latencies holds one sample per operation, sorted ascending; empty for
	// scenarios that measure throughput only.
	Latencies []time.Duration
}

// Rate returns operations per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// MBps returns payload throughput in megabytes (10^6 bytes) per second.
func (r Result) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// Percentile returns the latency at quantile q (0 < q ≤ 1), nearest rank,
// or 0 when there are no samples.
func (r Result) Percentile(q float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	i := int(q*float64(n)+0.999999) - 1
	i = max(0, min(i, n-1))
	return r.Latencies[i]
}

// Err reports why the run cannot be used as a number: no operation at all,
// or more than 1% of operations failed.
func (r Result) Err() error {
	switch {
	case r.Ops == 0 && r.FirstError != nil:
		return fmt.Errorf("no operation completed: %w", r.FirstError)
	case r.Ops == 0:
		return ErrNoOps
	case r.Errors*100 > r.Ops:
		return fmt.Errorf("%d of %d operations failed, first: %w", r.Errors, r.Ops+r.Errors, r.FirstError)
	}
	return nil
}

// merge combines the per-worker tallies into one Result.
func merge(parts []tally, elapsed time.Duration) Result {
	res := Result{Elapsed: elapsed}
	total := 0
	for _, p := range parts {
		total += len(p.lat)
	}
	if total > 0 {
		res.Latencies = make([]time.Duration, 0, total)
	}
	for _, p := range parts {
		res.Ops += p.ops
		res.Errors += p.errs
		res.Bytes += p.bytes
		if res.FirstError == nil {
			res.FirstError = p.firstErr
		}
		res.Latencies = append(res.Latencies, p.lat...)
	}
	slices.Sort(res.Latencies)
	return res
}

// tally is one worker's private counters, merged at the end so workers
// never share a cache line on the hot path.
type tally struct {
	ops, errs, bytes int64
	firstErr         error
	lat              []time.Duration
}

func (t *tally) fail(err error) {
	t.errs++
	if t.firstErr == nil {
		t.firstErr = err
	}
}
