/**
 * The trace flush: a fiber that, on every 10 s wall-clock boundary, closes the
 * open trace windows and adds them to the keys in Redis (see `TraceMerge`: the
 * windows of several replicas sum) in one pipelined round trip; and one last
 * flush when its scope closes. Time comes from Effect's `Clock`.
 * Its counts are in the metric registry (see `TraceMetrics`).
 */
import { Cause, Clock, Effect, Layer } from "effect"
import { CacheStore } from "../../cache/CacheStore.ts"
import type { FleetStore } from "../../store/FleetStore.ts"
import { replicaId, tracePartId } from "../GatewayReplica.ts"
import { Redis, type RedisCommandError } from "../Redis.ts"
import { RequestTrace } from "../RequestTrace.ts"
import { TraceBacklog, type TraceRecord } from "../TraceBacklog.ts"
import { observeTraceFlush } from "../TraceMetrics.ts"
import { mergeCalls } from "../TraceMerge.ts"
import { TRACE_INTERVAL_SECONDS, traceKey, windowJson } from "../TraceWindow.ts"

/** Seconds a written window lives in Redis. */
export const TRACE_TTL_SECONDS = 600

const INTERVAL_MS = TRACE_INTERVAL_SECONDS * 1_000
/** Started this close after a boundary, the first flush runs at once. */
const FIRST_TICK_GRACE_MS = 500
/**
 * How long the flush at shutdown may wait for Redis: a service must stop
 * within seconds, and a Redis that does not answer by then will not.
 */
export const FINAL_FLUSH_TIMEOUT_MS = 3_000

/** The flush `ts` of a moment: unix seconds rounded down to a multiple of 10. */
export const tsOf = (millis: number): number => Math.floor(millis / INTERVAL_MS) * TRACE_INTERVAL_SECONDS

/** When the first flush runs: at the next boundary, or at once within 500 ms past one. */
export const firstTickAt = (millis: number): number => {
  const boundary = tsOf(millis) * 1_000
  return millis - boundary <= FIRST_TICK_GRACE_MS ? boundary : boundary + INTERVAL_MS
}

/** What the flush has done so far. */
export interface TraceFlushStatistics {
  /** Flushes that wrote (or tried to write) something. */
  readonly ticks: number
  /** Flushes with nothing to write. */
  readonly skipped: number
  /** Flushes whose write failed. */
  readonly failed: number
  /** Windows written. */
  readonly written: number
  /** Windows waiting for the next flush. */
  readonly backlog: number
  /** Windows pushed out of the backlog unwritten. */
  readonly dropped: number
}

/** The requests counted in windows that will not be written (their `meta_total_reqs`). */
const lostRequests = (records: ReadonlyArray<TraceRecord>): number => {
  let total = 0
  for (const record of records) total += record.totalRequests
  return total
}

/** The part id of a flusher given none. */
const DEFAULT_PART_ID = "gateway"

export interface TraceFlusherOptions {
  /** Closed windows not yet written (a fresh backlog by default). */
  readonly backlog?: TraceBacklog | undefined
  /** Under which part of each key this process's windows are summed (see `TraceMerge`). */
  readonly partId?: string | undefined
}

export class TraceFlusher {
  readonly trace: RequestTrace
  readonly #store: FleetStore
  readonly #redis: Redis["Service"]
  readonly #backlog: TraceBacklog
  readonly #partId: string
  /** When the next flush is due (ms); set once the fiber has started. */
  #nextTickAt: number | undefined
  #ticks = 0
  #skipped = 0
  #failed = 0
  #written = 0

  constructor(store: FleetStore, trace: RequestTrace, redis: Redis["Service"], options: TraceFlusherOptions = {}) {
    this.#store = store
    this.trace = trace
    this.#redis = redis
    this.#backlog = options.backlog ?? new TraceBacklog()
    this.#partId = options.partId ?? DEFAULT_PART_ID
  }

  get statistics(): TraceFlushStatistics {
    return {
      ticks: this.#ticks,
      skipped: this.#skipped,
      failed: this.#failed,
      written: this.#written,
      backlog: this.#backlog.size,
      dropped: this.#backlog.dropped
    }
  }

  /**
   * One flush under `ts`: closes the open windows (one synchronous step, so no
   * request is lost or counted twice) and writes them after the backlog of
   * earlier failed flushes, all in one round trip. A failure keeps them all for
   * the next flush and logs one line.
   */
  flush(ts: number): Effect.Effect<void> {
    return this.#flush(ts, false)
  }

  #flush(ts: number, last: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      const dropped = this.#close(ts)
      const records = this.#backlog.records()
      if (records.length === 0) {
        this.#skipped++
        return Effect.void
      }
      this.#ticks++
      return this.#redis.runScripts(mergeCalls(records, this.#partId, TRACE_TTL_SECONDS)).pipe(
        Effect.tapError(() => Effect.annotateCurrentSpan("aibrix.trace.failed", true)),
        Effect.matchEffect({
          onSuccess: () =>
            Effect.sync(() => {
              this.#backlog.remove(records)
              this.#written += records.length
            }),
          onFailure: (error) => this.#failure(ts, records, dropped, error, last)
        }),
        Effect.andThen(Effect.annotateCurrentSpan("aibrix.trace.windows", records.length))
      )
    }).pipe(Effect.withSpan("trace flush", { attributes: { "aibrix.trace.ts": ts } }))
  }

  /**
   * Moves the open windows, as records keyed with `ts`, into the backlog;
   * returns how many old ones it pushed out, those of models gone quiet (or
   * gone) among them once their keys would have expired.
   */
  #close(ts: number): number {
    let dropped = this.#backlog.dropOlderThan(ts - TRACE_TTL_SECONDS)
    for (const [model, window] of this.trace.swap()) {
      const record: TraceRecord = {
        model,
        ts,
        key: traceKey(model, ts),
        value: windowJson(window, this.#store.pendingRequests(model)),
        totalRequests: window.total
      }
      dropped += this.#backlog.add(record)
    }
    return dropped
  }

  #failure(ts: number, records: ReadonlyArray<TraceRecord>, dropped: number, error: RedisCommandError, last: boolean) {
    this.#failed++
    if (last) {
      return Effect.logWarning(
        `request trace: last flush ${ts} could not write ${records.length} windows to Redis (${error.reason}); ` +
          `they are lost (${lostRequests(records)} requests)`
      )
    }
    const lost = dropped === 0 ? "" : `, ${dropped} oldest dropped (${this.#backlog.dropped} in all)`
    return Effect.logWarning(
      `request trace: flush ${ts} could not write ${records.length} windows to Redis (${error.reason}); ` +
        `${this.#backlog.size} kept for the next flush${lost}`
    )
  }

  /** Flushes on every boundary, for ever; survives any failure or defect of one flush. */
  readonly run: Effect.Effect<never> = Effect.gen({ self: this }, function* () {
    this.#nextTickAt = firstTickAt(yield* Clock.currentTimeMillis)
    while (true) {
      const now = yield* Clock.currentTimeMillis
      const due = this.#nextTickAt
      if (now < due) {
        yield* Effect.sleep(due - now)
        continue
      }
      const ts = tsOf(now)
      // The next boundary after this flush's own: a slow flush makes the next
      // one run late, never twice under one `ts`, and the schedule never drifts.
      this.#nextTickAt = (ts + TRACE_INTERVAL_SECONDS) * 1_000
      // Requests past their lifetime are not pending any more, whatever layer runs no sweep of its own.
      this.#store.releaseExpired(now)
      yield* this.flush(ts).pipe(
        Effect.catchDefect((defect) =>
          Effect.logError(`request trace: flush ${ts} failed: ${Cause.pretty(Cause.die(defect))}`)
        )
      )
    }
  })

  /**
   * The flush at shutdown: the open windows go under the `ts` the next flush
   * would have used, so no key written before is overwritten.
   */
  readonly finalFlush: Effect.Effect<void> = Effect.gen({ self: this }, function* () {
    const now = yield* Clock.currentTimeMillis
    yield* this.#flush(tsOf(Math.max(now, this.#nextTickAt ?? firstTickAt(now))), true)
  }).pipe(
    Effect.timeoutOrElse({
      duration: FINAL_FLUSH_TIMEOUT_MS,
      orElse: () =>
        Effect.suspend(() =>
          Effect.logWarning(
            `request trace: last flush got no answer from Redis within ${FINAL_FLUSH_TIMEOUT_MS} ms; ` +
              `${this.#backlog.size} windows are lost (${lostRequests(this.#backlog.records())} requests)`
          )
        )
    }),
    Effect.catchDefect((defect) =>
      Effect.logError(`request trace: last flush failed: ${Cause.pretty(Cause.die(defect))}`)
    )
  )
}

export interface FlushLayerOptions {
  /** This gateway replica's id (default `POD_NAME`, else the hostname): its windows' part of each key. */
  readonly replicaId?: string | undefined
}

/**
 * Turns the trace on for the store of the cache layer and runs the flush in the
 * layer's scope, its counts in the registry of the layer's context. Closing
 * the scope stops the flush fiber, turns the trace off, then flushes once
 * more; the Redis client is released after that.
 */
export const flushLayer = (options: FlushLayerOptions = {}): Layer.Layer<never, never, CacheStore | Redis> =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const store = yield* CacheStore
      const redis = yield* Redis
      const replica = options.replicaId ?? (yield* replicaId)
      // Terms above any an earlier trace on this store handed out (see RequestTrace).
      const trace = new RequestTrace(yield* Clock.currentTimeMillis)
      const flusher = new TraceFlusher(store, trace, redis, { partId: tracePartId(replica) })
      yield* Effect.acquireRelease(
        Effect.sync(() => store.setTraceRecorder(trace)),
        () => Effect.sync(() => store.setTraceRecorder(undefined)).pipe(Effect.andThen(flusher.finalFlush))
      )
      yield* observeTraceFlush(() => flusher.statistics)
      yield* Effect.forkScoped(flusher.run)
    })
  )
