/**
 * One pod's engine as the refresh knows it (which engine, where its page is,
 * its connection, what its last page gave), and one scrape of it: fetch the
 * page, read it as the engine's, and write its values to the store. The
 * scrape never fails: it says how it ended. Once the page is in, reading and
 * storing it is one synchronous step; logs are written only when what they
 * say changed.
 */
import { Cause, Effect, Result } from "effect"
import type { FleetStore, PodEntry } from "../../store/FleetStore.ts"
import { engineLabelOf, metricPortOf } from "../../store/Pod.ts"
import type { PageMetrics, PageSelection } from "../EnginePage.ts"
import { EnginePageReader } from "../EnginePageReader.ts"
import {
  malformedPage,
  originOf,
  type PageBody,
  type ScrapeError,
  type ScrapeLimits,
  type ScrapeOutcome
} from "../EngineScrape.ts"
import type { EngineConnection } from "../EngineTransport.ts"
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
  /** `http://host:port` of the engine. */
  origin = ""
  path = METRICS_PATH
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
  /** The engine label's value when it names no known engine. */
  unknownEngine: string | undefined = undefined
  /** The unknown engine label last logged, to say so once. */
  unknownNoted: string | undefined = undefined
  /** The canonical metrics the latest page left unanswered, to log only when that changes. */
  missing: ReadonlyArray<string> = []
  /** The families the latest page held malformed (and why), to log only when that changes. */
  malformed: ReadonlyArray<{ readonly family: string; readonly reason: string }> = []
  /** Reads the engine's pages, reusing what the previous one gave for families that did not change. */
  readonly reader = new EnginePageReader()
  /** The connection to `origin`, opened at the first scrape. */
  connection: EngineConnection | undefined = undefined

  constructor(entry: PodEntry) {
    this.entry = entry
  }

  /** Takes the engine the pod's labels name now, and its port; an unlabelled pod keeps what its pages told. */
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
    const origin = originOf(this.entry.podIp, metricPortOf(pod))
    if (origin !== this.origin) {
      this.close()
      this.origin = origin
    }
  }

  /** Where the engine's page is: its origin and path. */
  get url(): string {
    return this.origin + this.path
  }

  /** Closes the pod's connection, if open. */
  close(): void {
    this.connection?.close()
    this.connection = undefined
  }
}

/** The other path an engine may serve its page at, for a pod that does not say which engine it runs. */
const otherPath = (path: string): string => (path === METRICS_PATH ? TRTLLM_METRICS_PATH : METRICS_PATH)

const answeredNothing = ({ metrics }: PageMetrics): boolean => metrics.pod.size === 0 && metrics.models.size === 0

/** What the scrapes of a refresh share: the connections, the selections, the store and the counts. */
export interface ScrapeContext {
  readonly connect: (origin: string) => EngineConnection
  readonly store: FleetStore
  readonly selectionFor: (engine: Engine) => PageSelection
  /** Counts a page's metrics left unanswered and families found malformed. */
  readonly countPage: (page: PageMetrics) => void
}

/** A page read, or its first malformed line; and what to log about it. */
interface PageRead {
  readonly page: Result.Result<PageMetrics, ScrapeError>
  readonly note: Effect.Effect<void> | undefined
}

/** The page read as the pod's engine; an unlabelled pod's page that answers nothing may be another engine's. */
const readPage = (context: ScrapeContext, state: PodScrape, body: PageBody): PageRead => {
  const readAs = (engine: Engine): Result.Result<PageMetrics, ScrapeError> =>
    Result.mapError(state.reader.read(body.bytes, context.selectionFor(engine), state.entry.baseModel), (failure) =>
      malformedPage(state.url, failure)
    )
  const read = readAs(state.engine)
  if (read._tag === "Failure" || state.labelled || !answeredNothing(read.success)) {
    return { page: read, note: undefined }
  }
  const engine = engineOfPage(body.text)
  if (engine === undefined || engine === state.engine) return { page: read, note: undefined }
  state.engine = engine
  return {
    page: readAs(engine),
    note: Effect.logInfo("engine recognised from its page").pipe(Effect.annotateLogs({ pod: state.entry.key, engine }))
  }
}

const connectionOf = (context: ScrapeContext, state: PodScrape): EngineConnection => {
  state.connection ??= context.connect(state.origin)
  return state.connection
}

/** The page; an unlabelled pod answering 404 is asked at the other path an engine serves it at. */
const fetchFor = (
  context: ScrapeContext,
  state: PodScrape,
  limits: ScrapeLimits
): Effect.Effect<PageBody, ScrapeError> => {
  const fetched = connectionOf(context, state).get(state.path, limits)
  if (state.labelled) return fetched
  return Effect.catchIf(
    fetched,
    (error) => error.status === 404,
    (error) => {
      const path = otherPath(state.path)
      return connectionOf(context, state)
        .get(path, limits)
        .pipe(
          Effect.tap(() => {
            state.path = path
            return Effect.logInfo("engine page found at another path").pipe(
              Effect.annotateLogs({ pod: state.entry.key, url: state.url })
            )
          }),
          Effect.mapError(() => error)
        )
    }
  )
}

const noticeUnknownEngine = (state: PodScrape): Effect.Effect<void> => {
  const label = state.unknownEngine
  state.unknownNoted = label
  return Effect.logWarning("pod names an unknown engine; its page is read as another engine's").pipe(
    Effect.annotateLogs({ pod: state.entry.key, engine: label })
  )
}

const sameList = <A>(a: ReadonlyArray<A>, b: ReadonlyArray<A>, same: (x: A, y: A) => boolean): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!same(a[i]!, b[i]!)) return false
  return true
}

const sameMalformed = (
  x: { readonly family: string; readonly reason: string },
  y: { readonly family: string; readonly reason: string }
): boolean => x.family === y.family && x.reason === y.reason

/** What to log, at debug level, of what a page lacks or holds malformed, when that changed; undefined for nothing. */
const notePage = (state: PodScrape, page: PageMetrics): Effect.Effect<void> | undefined => {
  const missingChanged = !sameList(page.missing, state.missing, (x, y) => x === y)
  const malformedChanged = !sameList(page.malformed, state.malformed, sameMalformed)
  state.missing = page.missing
  state.malformed = page.malformed
  const notes: Array<Effect.Effect<void>> = []
  if (missingChanged && page.missing.length > 0) {
    notes.push(
      Effect.logDebug("engine page answers no family of some metrics").pipe(
        Effect.annotateLogs({ pod: state.entry.key, engine: state.engine, metrics: page.missing.join(",") })
      )
    )
  }
  if (malformedChanged && page.malformed.length > 0) {
    const families = page.malformed.map(({ family, reason }) => `${family} (${reason})`).join(", ")
    notes.push(
      Effect.logDebug("engine page has malformed families").pipe(
        Effect.annotateLogs({ pod: state.entry.key, families })
      )
    )
  }
  return notes.length === 0 ? undefined : Effect.all(notes, { discard: true })
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

/** A page in: read and stored at once (values as scraped at `begun`); how the scrape ended, and what to log. */
const takePage = (
  context: ScrapeContext,
  state: PodScrape,
  body: PageBody,
  begun: number
): Effect.Effect<ScrapeOutcome> => {
  const { note, page } = readPage(context, state, body)
  if (page._tag === "Failure") {
    const failed = failureOf(state, Cause.fail(page.failure))
    return note === undefined ? failed : Effect.andThen(note, failed)
  }
  context.store.replaceEngineMetrics(state.entry, page.success.metrics, begun)
  context.countPage(page.success)
  const noted = notePage(state, page.success)
  if (note === undefined && noted === undefined) return OK
  return Effect.as(Effect.all([note ?? Effect.void, noted ?? Effect.void], { discard: true }), "ok" as const)
}

const OK: Effect.Effect<ScrapeOutcome> = Effect.succeed("ok")

/**
 * Scrapes the pod once within `limits`, writing a good page's values to the
 * store as scraped at `begun`, when the request left: the engine wrote its
 * page after that, so the values are no older than said; how it ended.
 */
export const scrapeOnce = (
  context: ScrapeContext,
  state: PodScrape,
  limits: ScrapeLimits,
  begun: number
): Effect.Effect<ScrapeOutcome> => {
  const scrape = Effect.matchCauseEffect(fetchFor(context, state, limits), {
    onFailure: (cause) => failureOf(state, cause),
    onSuccess: (body) => takePage(context, state, body, begun)
  })
  return state.unknownEngine === undefined || state.unknownEngine === state.unknownNoted
    ? scrape
    : Effect.andThen(noticeUnknownEngine(state), scrape)
}
