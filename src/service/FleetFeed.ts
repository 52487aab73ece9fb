/**
 * What the fleet page polls: the models with their pods, each pod's readiness,
 * engine, key figures, staleness and the last minutes of its load. One
 * request a period per open page, whatever the fleet's size: the page passes
 * back the cursor of the answer it has and gets only the samples taken since.
 * The encoded answers of the latest sample are kept, so every page polling it
 * costs one map read.
 */
import { Schema } from "effect"
import type { FleetStore, PodEntry } from "../store/FleetStore.ts"
import { type FleetHistory, podFigures } from "./FleetHistory.ts"
import { keyValues, modelPod, modelRows } from "./FleetViews.ts"
import { MetricNumber, ModelPod } from "./ServiceApi.ts"

const Series = Schema.Array(MetricNumber)

export const FeedModel = Schema.Struct({
  id: Schema.String,
  /** The base model of an adapter; `null` for a base model. */
  parent: Schema.NullOr(Schema.String),
  /** Keys (`namespace/name`) of the pods that serve it. */
  pods: Schema.Array(Schema.String)
})
export type FeedModel = typeof FeedModel.Type

export const FeedPod = Schema.Struct({
  key: Schema.String,
  uid: Schema.String,
  ...ModelPod.fields,
  /** How old the engine's values are (ms): 0 while fresh, `null` without values (see `valuesAge`). */
  age_ms: Schema.NullOr(Schema.Number),
  /** The samples after the cursor (all kept when `full`), oldest first, the last one taken at `at`. */
  history: Schema.Struct({
    running: Series,
    waiting: Series,
    kv_cache: Series,
    gateway_running: Series
  })
})
export type FeedPod = typeof FeedPod.Type

export const FleetFeed = Schema.Struct({
  /** Pass it back as `?cursor=` to get only what follows. */
  cursor: Schema.String,
  /** The histories hold every sample kept (replace); otherwise only those after the cursor (append). */
  full: Schema.Boolean,
  /** When the latest sample was taken (epoch ms), and the time between samples. */
  at: Schema.Number,
  period_ms: Schema.Number,
  /** Samples kept per pod. */
  window: Schema.Number,
  /** The source's initial sync is in the store. */
  ready: Schema.Boolean,
  models: Schema.Array(FeedModel),
  pods: Schema.Array(FeedPod)
})
export type FleetFeed = typeof FleetFeed.Type

/** A cursor the feed cannot read. */
export class BadCursor extends Schema.TaggedError<BadCursor>()("BadCursor", {
  cursor: Schema.String
}) {
  override get message(): string {
    return `invalid cursor ${JSON.stringify(this.cursor)}: pass back the cursor of an earlier answer`
  }
}

/** `<run>.<seq>`: the feed's run (so a cursor of an earlier process run is not taken for this one's) and a sample. */
const CURSOR = /^([0-9a-z]{1,16})\.(\d{1,15})$/

/** The last sample a cursor saw, or undefined when it is of another run (its holder gets everything). */
export const readCursor = (cursor: string, run: string): number | undefined | BadCursor => {
  const match = CURSOR.exec(cursor)
  if (match === null) return new BadCursor({ cursor })
  return match[1] === run ? Number(match[2]) : undefined
}

/**
 * How old a pod's engine values are at `now`: 0 while fresh (their scrape is
 * within the store's stale horizon), the time since their scrape once stale,
 * null when the pod has none (never scraped well, or dropped).
 */
export const valuesAge = (entry: PodEntry, stale: boolean, now: number): number | null => {
  const scrapedAt = entry.engineScrapedAt
  if (scrapedAt === undefined) return null
  return stale ? now - scrapedAt : 0
}

const feedPod = (
  store: FleetStore,
  entry: PodEntry,
  history: FleetHistory,
  after: number | undefined,
  now: number
): FeedPod => {
  const stale = store.isEngineStale(entry, now)
  const pod = modelPod(entry, keyValues(entry, entry.baseModel), stale)
  return {
    key: entry.key,
    uid: entry.uid,
    ...pod,
    metrics: podFigures(entry, pod.metrics),
    age_ms: valuesAge(entry, stale, now),
    history: history.history(entry, after)
  }
}

export interface FeedOptions {
  readonly run: string
  readonly periodMs: number
  readonly ready: boolean
  readonly now: number
}

/**
 * The feed after sample `after` (everything kept when undefined, or when the
 * cursor is ahead of the history or so far behind that samples were lost).
 */
export const fleetFeed = (
  store: FleetStore,
  history: FleetHistory,
  after: number | undefined,
  options: FeedOptions
): FleetFeed => {
  const seq = history.seq
  const full = after === undefined || after > seq || after < seq - history.capacity
  const since = full ? undefined : after
  const models = modelRows(store).map(
    ({ id, parent, entries }): FeedModel => ({ id, parent, pods: entries.map((entry) => entry.key) })
  )
  const pods: Array<FeedPod> = []
  for (const entry of store.podEntries()) pods.push(feedPod(store, entry, history, since, options.now))
  return {
    cursor: `${options.run}.${seq}`,
    full,
    at: history.at,
    period_ms: options.periodMs,
    window: history.capacity,
    ready: options.ready,
    models,
    pods
  }
}

const utf8 = new TextEncoder()

/**
 * The encoded feeds of the latest sample, by cursor and readiness: every page
 * that polls once per sample asks for the same one, built once. Dropped at the
 * next sample, so pods added since show up within one period.
 */
export class FleetFeedCache {
  readonly #store: FleetStore
  readonly #history: FleetHistory
  readonly #run: string
  readonly #periodMs: number
  readonly #bodies = new Map<string, Uint8Array>()
  #seq = -1

  constructor(store: FleetStore, history: FleetHistory, run: string, periodMs: number) {
    this.#store = store
    this.#history = history
    this.#run = run
    this.#periodMs = periodMs
  }

  /** The feed after `cursor` (undefined: everything), encoded. */
  body(cursor: string | undefined, ready: boolean, now: number): Uint8Array | BadCursor {
    const after = cursor === undefined ? undefined : readCursor(cursor, this.#run)
    if (after instanceof BadCursor) return after
    if (this.#seq !== this.#history.seq) {
      this.#bodies.clear()
      this.#seq = this.#history.seq
    }
    const key = `${ready}:${after ?? ""}`
    let body = this.#bodies.get(key)
    if (body === undefined) {
      const feed = fleetFeed(this.#store, this.#history, after, {
        run: this.#run,
        periodMs: this.#periodMs,
        ready,
        now
      })
      // The schema has no transformations: the value is its own encoded form (see ServiceApi).
      body = utf8.encode(JSON.stringify(feed))
      // Pages poll with the latest cursor; a few stragglers must not grow the map without bound.
      if (this.#bodies.size >= 16) this.#bodies.clear()
      this.#bodies.set(key, body)
    }
    return body
  }
}
