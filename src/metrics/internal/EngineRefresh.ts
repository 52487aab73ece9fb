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
import { type PageMetrics, type PageSelection, pageSelection } from "../EnginePage.ts"
import { EnginePageReader } from "../EnginePageReader.ts"
import {
  fetchPage,
  malformedPage,
  metricsUrl,
  type PageBody,
  type ScrapeError,
  type ScrapeFailure
} from "../EngineScrape.ts"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import {
  DEFAULT_ENGINE,
  type Engine,
  engineMetrics,
  engineOfPage,
  engineProfiles,
  isEngine,
  METRICS_PATH,
  subscribedOf,
  TRTLLM_METRICS_PATH
} from "../MetricCatalogue.ts"
import type { ScrapeOptions } from "../MetricRefreshConfig.ts"
import { engineLabelOf, isReady, metricPortOf } from "../../store/Pod.ts"
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
  /** The engine whose families are read: the pod's engine label's, else vLLM's until a page says otherwise. */
  engine: Engine = DEFAULT_ENGINE
  /** The pod names its engine; else the engine and the page's path are found from the engine's answers. */
  labelled = false
  /** The engine label's value when it names no known engine, to say so once. */
  unknownEngine: string | undefined = undefined
  path = METRICS_PATH
  /** The canonical metrics the latest page left unanswered, to log only when that changes. */
  missing = ""
  /** The families the latest page held malformed, to log only when that changes. */
  malformed = ""
  /** Reads the engine's pages, reusing what the previous one gave for families that did not change. */
  readonly reader = new EnginePageReader()

  constructor(entry: PodEntry) {
    this.entry = entry
  }

  /** Takes the engine the pod's labels name now; an unlabelled pod keeps what its pages told. */
  follow(pod: PodEntry["pod"]): void {
    const label = engineLabelOf(pod)
    const named = label !== undefined && isEngine(label) ? label : undefined
    this.unknownEngine = named === undefined ? label : undefined
    if (named !== undefined && (!this.labelled || named !== this.engine)) {
      this.engine = named
      this.path = engineProfiles[named].metricsPath
    } else if (named === undefined && this.labelled) {
      this.engine = DEFAULT_ENGINE
      this.path = METRICS_PATH
    }
    this.labelled = named !== undefined
    this.url = metricsUrl(this.entry.podIp, metricPortOf(pod), this.path)
  }
}

/** The other path an engine may serve its page at, for a pod that does not say which engine it runs. */
const otherPath = (path: string): string => (path === METRICS_PATH ? TRTLLM_METRICS_PATH : METRICS_PATH)

const answeredNothing = ({ metrics }: PageMetrics): boolean => metrics.pod.size === 0 && metrics.models.size === 0

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
  let metrics = subscribedOf(engineMetrics, store.subscribedMetrics)
  let selections = new Map<Engine, PageSelection>()
  let subscriptions = store.subscribedMetrics.size
  let cycles = 0
  let pagesMissingFamilies = 0
  let malformedFamilies = 0
  const totals = zeroOutcomes()
  const durations = new DurationWindow()

  /** Rebuilds the target lists, only after the fleet changed. */
  const refreshTargets = (): void => {
    if (store.version === targetsVersion) return
    targetsVersion = store.version
    const next = new Map<PodEntry, PodScrape>()
    for (const entry of store.podEntries()) {
      const state = pods.get(entry) ?? new PodScrape(entry)
      state.follow(entry.pod)
      state.ready = isReady(entry.pod)
      next.set(entry, state)
    }
    pods = next
    const all = Array.from(next.values())
    ready = all.filter((state) => state.ready)
    notReady = all.filter((state) => !state.ready)
  }

  /** Subscriptions only grow: a new size means new selections. */
  const refreshSelection = (): void => {
    if (store.subscribedMetrics.size === subscriptions) return
    subscriptions = store.subscribedMetrics.size
    metrics = subscribedOf(engineMetrics, store.subscribedMetrics)
    selections = new Map()
  }

  const selectionFor = (engine: Engine): PageSelection => {
    let selection = selections.get(engine)
    if (selection === undefined) {
      selection = pageSelection(engineProfiles[engine], metrics)
      selections.set(engine, selection)
    }
    return selection
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

  const succeeded = (state: PodScrape, page: PageMetrics): Effect.Effect<void> => {
    store.replaceEngineMetrics(state.entry, page.metrics)
    state.missed = 0
    count(state, "ok")
    if (page.missing.length > 0) pagesMissingFamilies++
    malformedFamilies += page.malformed.length
    const missing = page.missing.join(",")
    const malformed = page.malformed.map(({ family, reason }) => `${family} (${reason})`).join(", ")
    const notes: Array<Effect.Effect<void>> = []
    if (missing !== state.missing && missing !== "") {
      notes.push(
        Effect.logDebug("engine page answers no family of some metrics").pipe(
          Effect.annotateLogs({ pod: state.entry.key, engine: state.engine, metrics: missing })
        )
      )
    }
    if (malformed !== state.malformed && malformed !== "") {
      notes.push(
        Effect.logDebug("engine page has malformed families").pipe(
          Effect.annotateLogs({ pod: state.entry.key, families: malformed })
        )
      )
    }
    state.missing = missing
    state.malformed = malformed
    return notes.length === 0 ? Effect.void : Effect.all(notes, { discard: true })
  }

  const failed = (state: PodScrape, cause: Cause.Cause<ScrapeError>): Effect.Effect<void> => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt // the loop is stopping
    const error = Cause.findErrorOption(cause)
    const reason: ScrapeFailure = error._tag === "Some" ? error.value.reason : "transport"
    count(state, reason)
    missCycle(state)
    const logged = Effect.logDebug("engine scrape failed").pipe(
      Effect.annotateLogs({
        pod: state.entry.key,
        outcome: reason,
        detail: error._tag === "Some" ? error.value.detail : Cause.pretty(cause)
      })
    )
    // A span, ended with the error, for the first failure after a good scrape: one per
    // outage, where a span per scrape would be twenty a second for each engine down.
    return state.missed !== 1
      ? logged
      : logged.pipe(
          Effect.andThen(Effect.failCause(cause)),
          Effect.withSpan("engine scrape failed", {
            kind: "client",
            attributes: { "aibrix.pod": state.entry.key, "url.full": state.url, "aibrix.scrape.outcome": reason }
          }),
          Effect.exit,
          Effect.asVoid
        )
  }

  /** The page read as the pod's engine; an unlabelled pod's page that answers nothing may be another engine's. */
  const readPage = (state: PodScrape, body: PageBody): Effect.Effect<PageMetrics, ScrapeError> => {
    const readAs = (engine: Engine) =>
      state.reader.read(body.text, selectionFor(engine), state.entry.baseModel, !body.utf8)
    const read = readAs(state.engine)
    if (read._tag === "Failure") return Effect.fail(malformedPage(state.url, read.failure))
    if (state.labelled || !answeredNothing(read.success)) return Effect.succeed(read.success)
    const engine = engineOfPage(body.text)
    if (engine === undefined || engine === state.engine) return Effect.succeed(read.success)
    state.engine = engine
    const again = readAs(engine)
    return (
      again._tag === "Failure" ? Effect.fail(malformedPage(state.url, again.failure)) : Effect.succeed(again.success)
    ).pipe(
      Effect.tap(() =>
        Effect.logInfo("engine recognised from its page").pipe(Effect.annotateLogs({ pod: state.entry.key, engine }))
      )
    )
  }

  /** The page; an unlabelled pod answering 404 is asked at the other path an engine serves it at. */
  const fetchFor = (state: PodScrape): Effect.Effect<PageBody, ScrapeError> =>
    fetchPage(client, state.url, options).pipe(
      Effect.catchIf(
        (error) => !state.labelled && error.status === 404,
        (error) => {
          const path = otherPath(state.path)
          const url = metricsUrl(state.entry.podIp, metricPortOf(state.entry.pod), path)
          return fetchPage(client, url, options).pipe(
            Effect.tap(() => {
              state.path = path
              state.url = url
              return Effect.logInfo("engine page found at another path").pipe(
                Effect.annotateLogs({ pod: state.entry.key, url })
              )
            }),
            Effect.mapError(() => error)
          )
        }
      )
    )

  const noticeUnknownEngine = (state: PodScrape): Effect.Effect<void> => {
    const label = state.unknownEngine
    if (label === undefined || state.outcomes.ok + state.missed > 0) return Effect.void
    return Effect.logWarning("pod names an unknown engine; its page is read as another engine's").pipe(
      Effect.annotateLogs({ pod: state.entry.key, engine: label })
    )
  }

  const scrape = (clock: Clock.Clock, state: PodScrape): Effect.Effect<void> =>
    Effect.suspend(() => {
      const started = nowMs(clock)
      return noticeUnknownEngine(state).pipe(
        Effect.andThen(fetchFor(state)),
        Effect.flatMap((body) => readPage(state, body)),
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
    for (const state of notReady) {
      if (state.entry.engineMetrics !== undefined) missCycle(state)
    }
    // Subscribers that read no engine metric leave the engines nothing to be scraped for.
    const idle = metrics.length === 0
    if (idle) for (const state of ready) store.dropEngineMetrics(state.entry)
    const scrapeAll = idle
      ? Effect.void
      : Effect.forEach(ready, (state) => scrape(clock, state), {
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
    engine: state.engine,
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
      malformedFamilies,
      pods: perPod,
      stalePods: perPod.filter((pod) => pod.stale).length,
      droppedPods: perPod.filter((pod) => pod.dropped).length
    }
  }

  return { cycle, run, statistics }
}
