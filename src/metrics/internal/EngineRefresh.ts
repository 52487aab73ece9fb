/**
 * The engine scrape loop: every interval, scrape every ready pod's engine and
 * write what it yields into the store.
 *
 * Cycles never overlap: the next starts one interval after the previous one
 * started, or at once when that one took longer. A pod that misses cycles
 * (failed scrapes, or not ready) keeps its values, marked stale after
 * `staleAfterCycles` and removed from reads after `dropAfterCycles`. Nothing a
 * pod's engine does stops the loop or holds back the other pods beyond the
 * scrape timeout.
 */
import { Cause, Clock, Effect, Exit } from "effect"
import type { HttpClient } from "effect/http"
import type { PageMetrics } from "../EnginePage.ts"
import { EnginePageReader, type PageSelection } from "../EnginePageReader.ts"
import { fetchPage, malformedPage, metricsUrl, type ScrapeError, type ScrapeFailure } from "../EngineScrape.ts"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { engineMetrics, familiesOf, subscribedOf } from "../MetricCatalogue.ts"
import type { ScrapeOptions } from "../MetricRefreshConfig.ts"
import { isReady, metricPortOf } from "../../store/Pod.ts"
import { repeatCycles } from "./RefreshCycles.ts"
import type { RefreshDurations } from "../RefreshMetrics.ts"
import {
  DurationWindow,
  type EngineRefreshStatistics,
  type OutcomeCounts,
  type PodScrapeStatistics,
  zeroOutcomes
} from "../RefreshStatistics.ts"

/** What the loop keeps about one pod entry between cycles. */
class PodScrape {
  readonly entry: PodEntry
  url = ""
  ready = false
  missed = 0
  readonly outcomes = zeroOutcomes()
  /** The families the latest page lacked, to log only when that changes. */
  missingFamilies = ""
  /** Reads the engine's pages, reusing what the previous one gave for families that did not change. */
  readonly reader = new EnginePageReader()

  constructor(entry: PodEntry) {
    this.entry = entry
  }
}

const selectionOf = (subscribed: ReadonlySet<string>): PageSelection => {
  const metrics = subscribedOf(engineMetrics, subscribed)
  return { metrics, families: familiesOf(metrics) }
}

export interface EngineRefresh {
  /** One cycle: every ready pod scraped once. Never fails. */
  readonly cycle: Effect.Effect<void>
  /** Cycles one after another, forever, at the configured interval. */
  readonly run: Effect.Effect<never>
  readonly statistics: () => EngineRefreshStatistics
}

const nowMs = (clock: Clock.Clock): number => Number(clock.currentTimeNanosUnsafe()) / 1e6

export const makeEngineRefresh = (
  store: FleetStore,
  client: HttpClient.HttpClient,
  options: ScrapeOptions,
  record: RefreshDurations
): EngineRefresh => {
  let pods = new Map<PodEntry, PodScrape>()
  let ready: ReadonlyArray<PodScrape> = []
  let notReady: ReadonlyArray<PodScrape> = []
  let targetsVersion = -1
  let selection = selectionOf(store.subscribedMetrics)
  let subscriptions = store.subscribedMetrics.size
  let cycles = 0
  let pagesMissingFamilies = 0
  const totals = zeroOutcomes()
  const durations = new DurationWindow()

  /** Rebuilds the target lists, only after the fleet changed. */
  const refreshTargets = (): void => {
    if (store.version === targetsVersion) return
    targetsVersion = store.version
    const next = new Map<PodEntry, PodScrape>()
    for (const entry of store.podEntries()) {
      const state = pods.get(entry) ?? new PodScrape(entry)
      state.url = metricsUrl(entry.podIp, metricPortOf(entry.pod))
      state.ready = isReady(entry.pod)
      next.set(entry, state)
    }
    pods = next
    const all = Array.from(next.values())
    ready = all.filter((state) => state.ready)
    notReady = all.filter((state) => !state.ready)
  }

  /** Subscriptions only grow: a new size means a new selection. */
  const refreshSelection = (): void => {
    if (store.subscribedMetrics.size === subscriptions) return
    subscriptions = store.subscribedMetrics.size
    selection = selectionOf(store.subscribedMetrics)
  }

  const count = (state: PodScrape, outcome: keyof OutcomeCounts): void => {
    state.outcomes[outcome]++
    totals[outcome]++
  }

  const missCycle = (state: PodScrape): void => {
    state.missed++
    if (state.missed >= options.dropAfterCycles) store.dropEngineMetrics(state.entry)
    else if (state.missed >= options.staleAfterCycles) store.markEngineMetricsStale(state.entry)
  }

  const succeeded = (state: PodScrape, { metrics, missingFamilies }: PageMetrics): Effect.Effect<void> => {
    store.replaceEngineMetrics(state.entry, metrics)
    state.missed = 0
    count(state, "ok")
    if (missingFamilies.length > 0) pagesMissingFamilies++
    const missing = missingFamilies.join(",")
    if (missing === state.missingFamilies) return Effect.void
    state.missingFamilies = missing
    return missing === ""
      ? Effect.void
      : Effect.logDebug("engine page lacks families").pipe(
          Effect.annotateLogs({ pod: state.entry.key, families: missing })
        )
  }

  const failed = (state: PodScrape, cause: Cause.Cause<ScrapeError>): Effect.Effect<void> => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt // the loop is stopping
    const error = Cause.findErrorOption(cause)
    const reason: ScrapeFailure = error._tag === "Some" ? error.value.reason : "transport"
    count(state, reason)
    missCycle(state)
    return Effect.logDebug("engine scrape failed").pipe(
      Effect.annotateLogs({
        pod: state.entry.key,
        outcome: reason,
        detail: error._tag === "Some" ? error.value.detail : Cause.pretty(cause)
      })
    )
  }

  const scrape = (clock: Clock.Clock, state: PodScrape, wanted: PageSelection): Effect.Effect<void> =>
    Effect.suspend(() => {
      const started = nowMs(clock)
      return fetchPage(client, state.url, options).pipe(
        Effect.flatMap((text) => {
          const read = state.reader.read(text, wanted)
          return read._tag === "Success"
            ? Effect.succeed(read.success)
            : Effect.fail(malformedPage(state.url, read.failure))
        }),
        Effect.exit,
        Effect.flatMap((exit) => {
          record.scrape(nowMs(clock) - started)
          return Exit.isSuccess(exit) ? succeeded(state, exit.value) : failed(state, exit.cause)
        })
      )
    })

  const cycle: Effect.Effect<void> = Clock.clockWith((clock) => {
    const started = nowMs(clock)
    refreshTargets()
    refreshSelection()
    const wanted = selection
    for (const state of notReady) {
      if (state.entry.engineMetrics !== undefined) missCycle(state)
    }
    // Subscribers that read no engine metric leave the engines nothing to be scraped for.
    const idle = wanted.metrics.length === 0
    if (idle) for (const state of ready) store.dropEngineMetrics(state.entry)
    const scrapeAll = idle
      ? Effect.void
      : Effect.forEach(ready, (state) => scrape(clock, state, wanted), {
          concurrency: options.concurrency,
          discard: true
        })
    return scrapeAll.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logWarning("engine refresh cycle failed", cause)
      ),
      Effect.ensuring(
        Effect.sync(() => {
          cycles++
          const ms = nowMs(clock) - started
          durations.record(ms)
          record.cycle(ms)
        })
      )
    )
  })

  const run = repeatCycles(cycle, options.intervalMs)

  const podStatistics = (state: PodScrape): PodScrapeStatistics => ({
    key: state.entry.key,
    url: state.url,
    ready: state.ready,
    outcomes: { ...state.outcomes },
    missedCycles: state.missed,
    stale: state.entry.engineMetricsStale,
    dropped: state.missed >= options.dropAfterCycles
  })

  const statistics = (): EngineRefreshStatistics => {
    const perPod = Array.from(pods.values(), podStatistics)
    return {
      cycles,
      lastCycleMs: durations.last,
      recentCycleMs: durations.toArray(),
      outcomes: { ...totals },
      pagesMissingFamilies,
      pods: perPod,
      stalePods: perPod.filter((pod) => pod.stale).length,
      droppedPods: perPod.filter((pod) => pod.dropped).length
    }
  }

  return { cycle, run, statistics }
}
