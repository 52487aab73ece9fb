/**
 * The engine refresh: one schedule per pod, each its own long-lived fiber.
 *
 * A ready pod is scraped every interval from its own start; starts are spread
 * over the interval (the k-th schedule starts `frac(k·φ)` of an interval
 * late, so any number of pods spread evenly), and a scrape that ends late
 * makes the next start at once. A pod has at most one scrape in flight, and
 * all pods together at most `concurrency`. A scrape that fails or times out
 * is retried after growing, jittered delays up to `backoffCapMs`
 * (`Backoff`); the first good scrape resets them. So a slow or dead engine
 * costs only its own freshness.
 *
 * Every engine value carries the time of the scrape that produced it
 * (`PodEntry.engineScrapedAt`); a pod whose last good scrape is older than
 * `staleAfterMs`, or that has none, is stale (`FleetStore.isEngineStale`),
 * and its values are removed from reads once older than `dropAfterMs` (a
 * schedule's waits, and a scrape's time limit, end at its drop time). A pod
 * that is not ready is not scraped and its values age the same way.
 *
 * The fleet is followed from the store: every interval the refresh compares
 * the store's version with the one it saw, and only after a change does it
 * start the schedules of new pods and stop those of pods that left; nothing
 * else it does per interval depends on the fleet's size.
 */
import { type Clock, Effect, Fiber, Random, Semaphore } from "effect"
import { HttpClient } from "effect/http"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { isReady } from "../../store/Pod.ts"
import { type PageMetrics, type PageSelection, pageSelection } from "../EnginePage.ts"
import { type Engine, engineMetrics, engineProfiles, subscribedOf } from "../MetricCatalogue.ts"
import type { ScrapeOptions } from "../MetricRefreshConfig.ts"
import type { EngineRefreshStatistics, EngineRefreshSummary, PodScrapeStatistics } from "../RefreshStatistics.ts"
import { zeroOutcomes } from "../RefreshStatistics.ts"
import { backoffDelay } from "./Backoff.ts"
import { PodScrape, type ScrapeContext, scrapeOnce } from "./PodScrape.ts"

/** Where the refresh records its observations, in milliseconds. */
export interface RefreshRecorder {
  /** How long one scrape took, whatever its outcome. */
  readonly scrape: (ms: number) => void
  /** How old a pod's values were when a scrape of it ended: the time since its last good scrape (or its start). */
  readonly age: (ms: number) => void
}

export interface EngineRefresh {
  /** The pods' schedules, following the fleet, until interrupted. */
  readonly run: Effect.Effect<never>
  readonly statistics: () => EngineRefreshStatistics
  /** The statistics without the pods': one pass, nothing kept per pod. */
  readonly summary: () => EngineRefreshSummary
}

/** One pod's schedule: what the refresh knows of the pod, since when, and the fiber that scrapes it. */
interface PodSchedule {
  readonly state: PodScrape
  readonly startedAt: number
  /** How late in the interval its scrapes fall, in whole milliseconds. */
  readonly phaseMs: number
  fiber: Fiber.Fiber<never> | undefined
}

/**
 * A turn of the event loop. A scrape due as soon as the previous one ended
 * waits for it: the HTTP client hands the connection back to its pool only
 * then, and a request sent before would open another one.
 */
const nextTurn: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})

/** The golden ratio's fraction: successive multiples of it spread evenly over [0, 1), however many there are. */
const GOLDEN = (Math.sqrt(5) - 1) / 2

export const makeEngineRefresh = (
  store: FleetStore,
  client: HttpClient.HttpClient,
  options: ScrapeOptions,
  record: RefreshRecorder,
  clock: Clock.Clock
): EngineRefresh => {
  const now = (): number => clock.currentTimeMillisUnsafe()
  store.setEngineFreshness({ staleAfterMs: options.staleAfterMs, dropAfterMs: options.dropAfterMs })
  let schedules = new Map<PodEntry, PodSchedule>()
  let started = 0
  let seenVersion = -1
  let metrics = subscribedOf(engineMetrics, store.subscribedMetrics)
  let selections = new Map<Engine, PageSelection>()
  let subscriptions = store.subscribedMetrics.size
  let pagesMissingFamilies = 0
  let malformedFamilies = 0
  const totals = zeroOutcomes()

  /** Subscriptions only grow: a new size means new selections. */
  const followSubscriptions = (): void => {
    if (store.subscribedMetrics.size === subscriptions) return
    subscriptions = store.subscribedMetrics.size
    metrics = subscribedOf(engineMetrics, store.subscribedMetrics)
    selections = new Map()
  }

  const context: ScrapeContext = {
    client,
    store,
    selectionFor: (engine) => {
      let selection = selections.get(engine)
      if (selection === undefined) {
        selection = pageSelection(engineProfiles[engine], metrics)
        selections.set(engine, selection)
      }
      return selection
    },
    countPage: (page: PageMetrics) => {
      if (page.missing.length > 0) pagesMissingFamilies++
      malformedFamilies += page.malformed.length
    }
  }

  /** When the pod's values leave reads; Infinity while it has none. */
  const dropAt = (state: PodScrape): number => {
    const scrapedAt = state.entry.engineScrapedAt
    return scrapedAt === undefined ? Infinity : scrapedAt + options.dropAfterMs
  }

  const dropIfDue = (state: PodScrape, at: number): void => {
    if (at < dropAt(state)) return
    store.dropEngineMetrics(state.entry)
    state.dropped = true
  }

  /** One scrape of the pod, within the time limit and its drop time; how it ended. */
  const scrape = (schedule: PodSchedule, semaphore: Semaphore.Semaphore) =>
    Effect.suspend(() => {
      const { state } = schedule
      const begun = now()
      const lastGood = state.entry.engineScrapedAt ?? schedule.startedAt
      const limits = {
        timeoutMs: Math.max(1, Math.min(options.timeoutMs, dropAt(state) - begun)),
        maxPageBytes: options.maxPageBytes
      }
      return scrapeOnce(context, state, limits, begun).pipe(
        Effect.tap((outcome) =>
          Effect.sync(() => {
            const ended = now()
            record.scrape(ended - begun)
            record.age(ended - lastGood)
            state.outcomes[outcome]++
            totals[outcome]++
          })
        ),
        semaphore.withPermits(1)
      )
    })

  /** The next scrape's time after one that ended at `ended`, due at `due`, with this outcome. */
  const nextDue = (state: PodScrape, due: number, ended: number, ok: boolean): Effect.Effect<number> => {
    if (ok) {
      state.failures = 0
      state.dropped = false
      return Effect.succeed(Math.max(due + options.intervalMs, ended))
    }
    state.failures++
    return Effect.map(
      Random.next,
      (random) => ended + backoffDelay(state.failures, options.intervalMs, options.backoffCapMs, random)
    )
  }

  const podLoop = (schedule: PodSchedule, semaphore: Semaphore.Semaphore): Effect.Effect<never> =>
    Effect.gen(function* () {
      const { state } = schedule
      let due = schedule.startedAt + schedule.phaseMs
      while (true) {
        const wait = Math.min(due, dropAt(state)) - now()
        if (wait > 0) yield* Effect.sleep(wait)
        const at = now()
        dropIfDue(state, at)
        if (at < due) continue
        followSubscriptions()
        if (metrics.length === 0) {
          // Subscribers that read no engine metric leave the engines nothing to be scraped for.
          store.dropEngineMetrics(state.entry)
          due = at + options.intervalMs
          continue
        }
        if (!state.ready) {
          due = at + options.intervalMs
          continue
        }
        const outcome = yield* scrape(schedule, semaphore)
        const ended = now()
        dropIfDue(state, ended)
        due = yield* nextDue(state, due, ended, outcome === "ok")
        if (due <= ended) yield* nextTurn
      }
    })

  /** Starts the schedules of new pods and stops those of pods that left; only after the fleet changed. */
  const followFleet = (semaphore: Semaphore.Semaphore): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (store.version === seenVersion) return Effect.void
      seenVersion = store.version
      const next = new Map<PodEntry, PodSchedule>()
      const starts: Array<PodSchedule> = []
      for (const entry of store.podEntries()) {
        let schedule = schedules.get(entry)
        if (schedule === undefined) {
          schedule = {
            state: new PodScrape(entry),
            startedAt: now(),
            phaseMs: Math.floor(((started++ * GOLDEN) % 1) * options.intervalMs),
            fiber: undefined
          }
          starts.push(schedule)
        }
        schedule.state.follow(entry.pod)
        schedule.state.ready = isReady(entry.pod)
        next.set(entry, schedule)
      }
      const stops = Array.from(schedules.values()).filter((schedule) => !next.has(schedule.state.entry))
      schedules = next
      return Effect.forEach(
        stops,
        (schedule) => (schedule.fiber === undefined ? Effect.void : Fiber.interrupt(schedule.fiber)),
        {
          discard: true
        }
      ).pipe(
        Effect.andThen(
          Effect.forEach(
            starts,
            (schedule) =>
              Effect.map(Effect.forkChild(podLoop(schedule, semaphore)), (fiber) => {
                schedule.fiber = fiber
              }),
            { discard: true }
          )
        )
      )
    })

  const run: Effect.Effect<never> = Effect.gen(function* () {
    const semaphore = yield* Semaphore.make(options.concurrency)
    while (true) {
      yield* followFleet(semaphore)
      yield* Effect.sleep(options.intervalMs)
    }
  }).pipe(
    // The scrapes are the refresh's own traffic, thousands a second: no client spans.
    Effect.provideService(HttpClient.TracerDisabledWhen, () => true)
  )

  const podStatistics = (schedule: PodSchedule, at: number): PodScrapeStatistics => {
    const { state } = schedule
    const scrapedAt = state.entry.engineScrapedAt
    return {
      key: state.entry.key,
      url: state.url,
      engine: state.engine,
      ready: state.ready,
      outcomes: { ...state.outcomes },
      failures: state.failures,
      ageMs: scrapedAt === undefined ? undefined : at - scrapedAt,
      stale: store.isEngineStale(state.entry, at),
      dropped: state.dropped
    }
  }

  const summary = (): EngineRefreshSummary => {
    const at = now()
    let stalePods = 0
    let droppedPods = 0
    let oldestAgeMs = 0
    for (const { state, startedAt } of schedules.values()) {
      if (store.isEngineStale(state.entry, at)) stalePods++
      if (state.dropped) droppedPods++
      if (state.ready) oldestAgeMs = Math.max(oldestAgeMs, at - (state.entry.engineScrapedAt ?? startedAt))
    }
    return { outcomes: { ...totals }, pagesMissingFamilies, malformedFamilies, stalePods, droppedPods, oldestAgeMs }
  }

  const statistics = (): EngineRefreshStatistics => {
    const at = now()
    const pods = Array.from(schedules.values(), (schedule) => podStatistics(schedule, at))
    return { ...summary(), pods }
  }

  return { run, statistics, summary }
}
