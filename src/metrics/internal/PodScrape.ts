/**
 * One pod's engine as the refresh knows it (which engine, where its page is,
 * what its last page gave), and one scrape of it: fetch the page, read it as
 * the engine's, and write its values to the store. The scrape never fails: it
 * says how it ended.
 */
import { Cause, Effect, Exit } from "effect"
import type { HttpClient } from "effect/http"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { engineLabelOf, metricPortOf } from "../../store/Pod.ts"
import type { PageMetrics, PageSelection } from "../EnginePage.ts"
import { EnginePageReader } from "../EnginePageReader.ts"
import {
  fetchPage,
  malformedPage,
  metricsUrl,
  type PageBody,
  type ScrapeError,
  type ScrapeLimits,
  type ScrapeOutcome
} from "../EngineScrape.ts"
import {
  DEFAULT_ENGINE,
  type Engine,
  engineOfPage,
  engineProfiles,
  isEngine,
  METRICS_PATH,
  TRTLLM_METRICS_PATH
} from "../MetricCatalogue.ts"
import { type OutcomeCounts, zeroOutcomes } from "../RefreshStatistics.ts"

/** What the refresh keeps about one pod entry. */
export class PodScrape {
  readonly entry: PodEntry
  url = ""
  ready = false
  readonly outcomes: OutcomeCounts = zeroOutcomes()
  /** Scrapes in a row that failed; 0 after a good one. */
  failures = 0
  /** Its values were removed after failing past the drop horizon, and no scrape succeeded since. */
  dropped = false
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

/** What the scrapes of a refresh share: the client, the limits, the selections, the store and the counts. */
export interface ScrapeContext {
  readonly client: HttpClient.HttpClient
  readonly store: FleetStore
  readonly selectionFor: (engine: Engine) => PageSelection
  /** Counts a page's metrics left unanswered and families found malformed. */
  readonly countPage: (page: PageMetrics) => void
}

/** The page read as the pod's engine; an unlabelled pod's page that answers nothing may be another engine's. */
const readPage = (
  context: ScrapeContext,
  state: PodScrape,
  body: PageBody
): Effect.Effect<PageMetrics, ScrapeError> => {
  const readAs = (engine: Engine) =>
    state.reader.read(body.text, context.selectionFor(engine), state.entry.baseModel, !body.utf8)
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
const fetchFor = (
  context: ScrapeContext,
  state: PodScrape,
  limits: ScrapeLimits
): Effect.Effect<PageBody, ScrapeError> =>
  fetchPage(context.client, state.url, limits).pipe(
    Effect.catchIf(
      (error) => !state.labelled && error.status === 404,
      (error) => {
        const path = otherPath(state.path)
        const url = metricsUrl(state.entry.podIp, metricPortOf(state.entry.pod), path)
        return fetchPage(context.client, url, limits).pipe(
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
  if (label === undefined || state.outcomes.ok + state.failures > 0) return Effect.void
  return Effect.logWarning("pod names an unknown engine; its page is read as another engine's").pipe(
    Effect.annotateLogs({ pod: state.entry.key, engine: label })
  )
}

/** Logs, at debug level, what a page lacks or holds malformed, when that changes. */
const notePage = (state: PodScrape, page: PageMetrics): Effect.Effect<void> => {
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

const failureOf = (state: PodScrape, cause: Cause.Cause<ScrapeError>): Effect.Effect<ScrapeOutcome> => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.interrupt // the refresh is stopping
  const error = Cause.findErrorOption(cause)
  const reason = error._tag === "Some" ? error.value.reason : "transport"
  const logged = Effect.logDebug("engine scrape failed").pipe(
    Effect.annotateLogs({
      pod: state.entry.key,
      outcome: reason,
      detail: error._tag === "Some" ? error.value.detail : Cause.pretty(cause)
    })
  )
  // A span, ended with the error, for the first failure after a good scrape (or the pod's start):
  // one per outage, where a span per scrape would be one per retry for each engine down.
  const noted =
    state.failures !== 0
      ? logged
      : logged.pipe(
          Effect.andThen(Effect.failCause(cause)),
          Effect.withSpan("engine scrape failed", {
            kind: "client",
            attributes: { "aibrix.pod": state.entry.key, "url.full": state.url, "aibrix.scrape.outcome": reason }
          }),
          Effect.exit
        )
  return Effect.as(noted, reason)
}

/**
 * Scrapes the pod once within `limits`, writing a good page's values to the
 * store as scraped at `begun`, when the request left: the engine wrote its page
 * after that, so the values are no older than said; how it ended.
 */
export const scrapeOnce = (
  context: ScrapeContext,
  state: PodScrape,
  limits: ScrapeLimits,
  begun: number
): Effect.Effect<ScrapeOutcome> =>
  noticeUnknownEngine(state).pipe(
    Effect.andThen(fetchFor(context, state, limits)),
    Effect.flatMap((body) => readPage(context, state, body)),
    Effect.exit,
    Effect.flatMap((exit) => {
      if (!Exit.isSuccess(exit)) return failureOf(state, exit.cause)
      context.store.replaceEngineMetrics(state.entry, exit.value.metrics, begun)
      context.countPage(exit.value)
      return Effect.as(notePage(state, exit.value), "ok" as const)
    })
  )
