/**
 * The metric refresh's families in Effect's metric registry: every scrape's
 * duration, the age of a pod's values at each scrape and the oldest among
 * ready pods, scrapes by outcome, malformed families, stale and dropped pods,
 * and, with Prometheus, the PromQL queries. The loops keep their counts for
 * `MetricRefresh.statistics`; the registry observes those counts, and the
 * loops record durations and ages in its histograms.
 */
import { type Context, Effect, Metric, type Scope } from "effect"
import { observeCounter, observeGauge, registerFamilies } from "../cache/ObservedSeries.ts"
import { type ScrapeOutcome, scrapeOutcomes } from "./EngineScrape.ts"
import type { MetricRefreshOptions } from "./MetricRefreshConfig.ts"
import type { RefreshRecorder } from "./internal/EngineRefresh.ts"
import type { EngineRefreshSummary, PromQLRefreshStatistics } from "./RefreshStatistics.ts"

/** Upper bounds, in seconds, of the scrape duration histogram. */
export const DURATION_BOUNDS: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/** Upper bounds, in seconds, of the value age histogram: around the 50 ms interval, then up to the drop horizon. */
export const AGE_BOUNDS: ReadonlyArray<number> = [0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export const valueAge = Metric.histogram("aibrix_cache_value_age_seconds", {
  description:
    "Age of a pod's engine values when a scrape of it ends: the time since its last good scrape (or its start).",
  boundaries: AGE_BOUNDS
})

export const oldestValueAge = Metric.gauge("aibrix_cache_oldest_value_age_seconds", {
  description: "The oldest engine values among ready pods: the time since a pod's last good scrape (or its start)."
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
  description: "Pods whose last good scrape is older than the stale horizon, or that have none."
})

export const droppedPods = Metric.gauge("aibrix_cache_dropped_pods", {
  description: "Pods whose engine values were removed after failing past the drop horizon."
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

/** The duration and age histograms of the registry and attributes of `context`. */
export const recorderIn = (context: Context.Context<never>): RefreshRecorder => ({
  scrape: (ms) => scrapeDuration.updateUnsafe(ms / 1000, context),
  age: (ms) => valueAge.updateUnsafe(ms / 1000, context)
})

const engineFamilies: ReadonlyArray<Metric.Metric<never, unknown>> = [
  scrapeDuration,
  valueAge,
  oldestValueAge,
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
  engine: () => EngineRefreshSummary,
  promql: (() => PromQLRefreshStatistics) | undefined
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function* () {
    yield* observeGauge(oldestValueAge, () => engine().oldestAgeMs / 1000)
    for (const outcome of scrapeOutcomes) yield* observeCounter(scrapes[outcome], () => engine().outcomes[outcome])
    yield* observeCounter(malformedFamilies, () => engine().malformedFamilies)
    yield* observeGauge(stalePods, () => engine().stalePods)
    yield* observeGauge(droppedPods, () => engine().droppedPods)
    if (promql === undefined) return
    yield* observeCounter(promqlQueries, () => promql().queries)
    yield* observeCounter(promqlFailures, () => promql().failures)
    yield* observeCounter(promqlTimeouts, () => promql().timeouts)
  })
