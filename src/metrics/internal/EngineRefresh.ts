/**
 * The engine refresh: one schedule per pod, each its own long-lived fiber.
 *
 * A ready pod is scraped every interval from its own start; starts are spread
 * over the interval (the k-th schedule starts `frac(k·φ)` of an interval
 * late, so any number of pods spread evenly), and a scrape that ends late
 * makes the next start at once. A pod has at most one scrape in flight, and
 * all pods together at most `concurrency`. Each pod has its own connection
 * (`EngineTransport`), opened at its first scrape and closed when it goes. A
 * scrape is a handful of steps: a sleep, the request, then the page read and
 * stored in one synchronous step. A scrape that fails or times out
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
import { type Clock, Effect, Fiber, Random } from "effect"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { isReady } from "../../store/Pod.ts"
import { type PageMetrics, type PageSelection, pageSelection } from "../EnginePage.ts"
import { type Engine, engineMetrics, engineProfiles, subscribedOf } from "../MetricCatalogue.ts"
import type { ScrapeOutcome } from "../EngineScrape.ts"
import type { EngineTransport } from "../EngineTransport.ts"
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
  /** It holds one of the gate's slots. */
  holding: boolean
}

/**
 * The bound on scrapes in flight over every pod: a count of free slots, and
 * the schedules waiting for one, woken in order. A schedule holds at most one
 * slot (`PodSchedule.holding`) and gives it back however its scrape ends.
 */
class ScrapeGate {
  #free: number
  readonly #waiting: Array<() => void> = []

  constructor(slots: number) {
    this.#free = slots
  }

  /** A slot for the schedule: at once when one is free, else when one is given back. */
  acquire(schedule: PodSchedule): Effect.Effect<void> {
    if (this.#free > 0) {
      this.#free--
      schedule.holding = true
      return Effect.void
    }
    return Effect.callback<void>((resume) => {
      const wake = () => {
        schedule.holding = true
        resume(Effect.void)
      }
      this.#waiting.push(wake)
      return Effect.sync(() => {
        const at = this.#waiting.indexOf(wake)
        if (at >= 0) this.#waiting.splice(at, 1)
      })
    })
  }

  /** Gives the schedule's slot back, if it holds one: to the first waiting, else to the free ones. */
  release(schedule: PodSchedule): void {
    if (!schedule.holding) return
    schedule.holding = false
    const next = this.#waiting.shift()
    if (next === undefined) this.#free++
    else next()
  }
}

/** The golden ratio's fraction: successive multiples of it spread evenly over [0, 1), however many there are. */
const GOLDEN = (Math.sqrt(5) - 1) / 2

export const makeEngineRefresh = (
  store: FleetStore,
  transport: EngineTransport["Service"],
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

  const gate = new ScrapeGate(options.concurrency)
  const context: ScrapeContext = {
    connect: transport.connect,
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

  /** Counts and records a scrape that began at `begun` and ended now; when it ended. */
  const ended = (schedule: PodSchedule, outcome: ScrapeOutcome, begun: number, lastGood: number): number => {
    const at = now()
    record.scrape(at - begun)
    record.age(at - lastGood)
    schedule.state.outcomes[outcome]++
    totals[outcome]++
    return at
  }

  /** The waits of a failing pod, with its failures in a row counted. */
  const backoff = (state: PodScrape, at: number): Effect.Effect<number> => {
    state.failures++
    return Effect.map(
      Random.next,
      (random) => at + backoffDelay(state.failures, options.intervalMs, options.backoffCapMs, random)
    )
  }

  const podLoop = (schedule: PodSchedule): Effect.Effect<never> =>
    Effect.gen(function* () {
      const { state } = schedule
      const release = Effect.sync(() => gate.release(schedule))
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
        // One scrape, within the time limit and the pod's drop time, holding a slot of the gate.
        const lastGood = state.entry.engineScrapedAt ?? schedule.startedAt
        const begun = at
        const limits = {
          timeoutMs: Math.max(1, Math.min(options.timeoutMs, dropAt(state) - begun)),
          maxPageBytes: options.maxPageBytes
        }
        const outcome = yield* Effect.ensuring(
          Effect.andThen(gate.acquire(schedule), scrapeOnce(context, state, limits, begun)),
          release
        )
        const end = ended(schedule, outcome, begun, lastGood)
        dropIfDue(state, end)
        if (outcome === "ok") {
          state.failures = 0
          state.dropped = false
          // A scrape that ended late makes the next start at once.
          due = Math.max(due + options.intervalMs, end)
        } else {
          due = yield* backoff(state, end)
        }
      }
    }).pipe(Effect.ensuring(Effect.sync(() => schedule.state.close())))

  /** Starts the schedules of new pods and stops those of pods that left; only after the fleet changed. */
  const followFleet: Effect.Effect<void> = Effect.suspend(() => {
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
          fiber: undefined,
          holding: false
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
      { discard: true }
    ).pipe(
      Effect.andThen(
        Effect.forEach(
          starts,
          (schedule) =>
            Effect.map(Effect.forkChild(podLoop(schedule)), (fiber) => {
              schedule.fiber = fiber
            }),
          { discard: true }
        )
      )
    )
  })

  const run: Effect.Effect<never> = Effect.gen(function* () {
    while (true) {
      yield* followFleet
      yield* Effect.sleep(options.intervalMs)
    }
  })

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
