/**
 * The metric refresh's families in Effect's metric registry: cycles and their
 * durations, every scrape's duration, scrapes by outcome, stale and dropped
 * pods, and, with Prometheus, the PromQL queries. The loops keep their counts
 * for `MetricRefresh.statistics`; the registry observes those counts, and the
 * loops record the durations in its histograms.
 */
import { type Context, Effect, Metric, type Scope } from "effect"
import { observeCounter, observeGauge, registerFamilies } from "../cache/ObservedSeries.ts"
import { type ScrapeOutcome, scrapeOutcomes } from "./EngineScrape.ts"
import type { MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import type { EngineRefreshStatistics, PromQLRefreshStatistics } from "./RefreshStatistics.ts"

/** Upper bounds, in seconds, of the cycle and scrape duration histograms. */
export const DURATION_BOUNDS: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

export const cycles = Metric.counter("aibrix_cache_refresh_cycles_total", { description: "Engine scrape cycles run." })

export const cycleDuration = Metric.histogram("aibrix_cache_refresh_cycle_duration_seconds", {
  description: "Duration of an engine scrape cycle (every ready pod).",
  boundaries: DURATION_BOUNDS
})

export const scrapeDuration = Metric.histogram("aibrix_cache_scrape_duration_seconds", {
  description: "Duration of one engine scrape, whatever its outcome.",
  boundaries: DURATION_BOUNDS
})

const scrapesWith = (outcome: ScrapeOutcome): Metric.Counter<number> =>
  Metric.counter("aibrix_cache_scrapes_total", {
    description: "Engine scrapes by outcome (ok, timeout, transport, status, too_large, truncated, malformed).",
    attributes: { outcome }
  })

/** Scrapes by outcome: one counter per `outcome` attribute. */
export const scrapes: Readonly<Record<ScrapeOutcome, Metric.Counter<number>>> = {
  ok: scrapesWith("ok"),
  timeout: scrapesWith("timeout"),
  transport: scrapesWith("transport"),
  status: scrapesWith("status"),
  too_large: scrapesWith("too_large"),
  truncated: scrapesWith("truncated"),
  malformed: scrapesWith("malformed")
}

export const malformedFamilies = Metric.counter("aibrix_cache_malformed_families_total", {
  description: "Families of engine pages that gave no value because they would give a wrong one."
})

export const stalePods = Metric.gauge("aibrix_cache_stale_pods", {
  description: "Pods whose engine values are old (their last scrapes failed)."
})

export const droppedPods = Metric.gauge("aibrix_cache_dropped_pods", {
  description: "Pods whose engine values were removed after failed scrapes."
})

export const promqlQueries = Metric.counter("aibrix_cache_promql_queries_total", {
  description: "PromQL queries sent."
})

export const promqlFailures = Metric.counter("aibrix_cache_promql_failures_total", {
  description: "PromQL queries that failed, timeouts included."
})

export const promqlTimeouts = Metric.counter("aibrix_cache_promql_timeouts_total", {
  description: "PromQL queries that timed out."
})

/** Where the engine loop records its durations, in milliseconds. */
export interface RefreshDurations {
  readonly scrape: (ms: number) => void
  readonly cycle: (ms: number) => void
}

/** The duration histograms of the registry and attributes of `context`. */
export const durationsIn = (context: Context.Context<never>): RefreshDurations => ({
  scrape: (ms) => scrapeDuration.updateUnsafe(ms / 1000, context),
  cycle: (ms) => cycleDuration.updateUnsafe(ms / 1000, context)
})

const engineFamilies: ReadonlyArray<Metric.Metric<never, unknown>> = [
  cycles,
  cycleDuration,
  scrapeDuration,
  ...scrapeOutcomes.map((outcome) => scrapes[outcome]),
  malformedFamilies,
  stalePods,
  droppedPods
]

const promqlFamilies: ReadonlyArray<Metric.Metric<never, unknown>> = [promqlQueries, promqlFailures, promqlTimeouts]

/** Every family of a refresh with these options, at zero unless there already (PromQL's only with Prometheus). */
export const registerRefreshFamilies = (options: MetricRefreshOptions): Effect.Effect<void> =>
  registerFamilies(options.promql === undefined ? engineFamilies : [...engineFamilies, ...promqlFamilies])

/** The loops' counts, observed in the registry for the current scope. */
export const observeRefresh = (
  engine: () => EngineRefreshStatistics,
  promql: (() => PromQLRefreshStatistics) | undefined
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* observeCounter(cycles, () => engine().cycles)
    for (const outcome of scrapeOutcomes) yield* observeCounter(scrapes[outcome], () => engine().outcomes[outcome])
    yield* observeCounter(malformedFamilies, () => engine().malformedFamilies)
    yield* observeGauge(stalePods, () => engine().stalePods)
    yield* observeGauge(droppedPods, () => engine().droppedPods)
    if (promql === undefined) return
    yield* observeCounter(promqlQueries, () => promql().queries)
    yield* observeCounter(promqlFailures, () => promql().failures)
    yield* observeCounter(promqlTimeouts, () => promql().timeouts)
  })
