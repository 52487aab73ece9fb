/**
 * The trace flush's families in Effect's metric registry, observed from the
 * counts the flusher keeps (`TraceFlusher.statistics`).
 */
import { Effect, Metric, type Scope } from "effect"
import { observeCounter, observeGauge, registerFamilies } from "../cache/ObservedSeries.ts"
import type { TraceFlushStatistics } from "./internal/TraceFlusher.ts"

export const flushes = Metric.counter("aibrix_cache_trace_flushes_total", {
  description: "Trace flushes that wrote, or tried to write, windows to Redis."
})

export const flushFailures = Metric.counter("aibrix_cache_trace_flush_failures_total", {
  description: "Trace flushes whose write to Redis failed."
})

export const flushesSkipped = Metric.counter("aibrix_cache_trace_flushes_skipped_total", {
  description: "Trace flushes with nothing to write."
})

export const windowsWritten = Metric.counter("aibrix_cache_trace_windows_written_total", {
  description: "Trace windows written to Redis."
})

export const backlogWindows = Metric.gauge("aibrix_cache_trace_backlog_windows", {
  description: "Trace windows waiting for the next flush after a failed one."
})

export const windowsDropped = Metric.counter("aibrix_cache_trace_windows_dropped_total", {
  description: "Trace windows pushed out of the backlog unwritten."
})

/** Every family of the trace flush at zero, unless there already. */
export const registerTraceFamilies: Effect.Effect<void> = registerFamilies([
  flushes,
  flushFailures,
  flushesSkipped,
  windowsWritten,
  backlogWindows,
  windowsDropped
])

/** The flusher's counts, observed in the registry for the current scope. */
export const observeTraceFlush = (statistics: () => TraceFlushStatistics): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* registerTraceFamilies
    yield* observeCounter(flushes, () => statistics().ticks)
    yield* observeCounter(flushFailures, () => statistics().failed)
    yield* observeCounter(flushesSkipped, () => statistics().skipped)
    yield* observeCounter(windowsWritten, () => statistics().written)
    yield* observeGauge(backlogWindows, () => statistics().backlog)
    yield* observeCounter(windowsDropped, () => statistics().dropped)
  })
