/**
 * One informer of `@kubernetes/client-node` that never stops for good.
 *
 * The client's `ListWatch` relists on 410 Gone and reconnects after a client
 * timeout or a watch the server ended cleanly, but on any other error (a list
 * that fails, a watch cut mid-stream: "fetch failed", "terminated") it calls
 * its error handlers and stops. Here each such stop is followed by a restart
 * after a capped, jittered exponential backoff, logged once and counted.
 * A restart keeps the informer's cache: it resumes watching from the last
 * resource version (the server replays what changed, or answers 410 and the
 * client relists), and a relist reports objects that vanished meanwhile as
 * deleted, since the client diffs the new list against its cache. The
 * restarts are observed in the metric registry as
 * `aibrix_cache_informer_restarts_total{informer}` from the start.
 *
 * `relist` asks for such a list at any time: the watch ends as if the server
 * had answered 410 Gone, the informer lists, delivers the differences to its
 * cache (the adds, updates and deletes its watch missed) and watches on from
 * the list's version.
 */
import { type KubeConfig, type KubernetesObject, ListWatch } from "@kubernetes/client-node"
import { Clock, Deferred, Duration, Effect, Exit, Pull, Queue, Schedule, type Scope } from "effect"
import { observeCounter } from "../../cache/ObservedSeries.ts"
import { informerRestarts } from "../DiscoveryMetrics.ts"
import { ClosableWatch, closableDelay } from "./ClosableWatch.ts"
import { describeError } from "./ErrorDescription.ts"
import { listObjects } from "./KubernetesList.ts"

/** What to watch. */
export interface InformerSpec<T extends KubernetesObject> {
  /** Its name in logs, errors and counts: `pods`, `modeladapters`. */
  readonly resource: string
  /** The collection's path, all namespaces: `/api/v1/pods`. */
  readonly path: string
  readonly labelSelector?: string | undefined
  /** Whether a listed item is an object of the resource the informer can key. */
  readonly isObject: (item: unknown) => item is T
  /**
   * What the informer delivers and keeps in its cache of each object (by
   * default all of it): its version and key must stay.
   */
  readonly keep?: ((object: T) => T) | undefined
}

/** Where the informer delivers objects; called synchronously, in order. */
export interface InformerHandlers<T> {
  readonly added: (object: T) => void
  readonly updated: (object: T) => void
  readonly deleted: (object: T) => void
  /**
   * A list arrived and its differences to the cache are about to be
   * delivered; `requested` when it answers `relist`.
   */
  readonly listing: (requested: boolean) => void
  /** A list (the first or a relist) has been delivered in full. */
  readonly listed: () => void
}

/** How long to wait before restarting a stopped informer. */
export interface RestartBackoff {
  /** The first delay; each restart in a row doubles it. */
  readonly base: Duration.Input
  /** The longest delay before jitter (each delay is jittered by ±20%). */
  readonly cap: Duration.Input
}

export const defaultBackoff: RestartBackoff = { base: "1 second", cap: "30 seconds" }

export const backoffSchedule = (backoff: RestartBackoff): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.jittered(Schedule.min([Schedule.exponential(backoff.base), Schedule.spaced(backoff.cap)]))

export interface SupervisedInformer {
  readonly resource: string
  /** Completes once the informer has listed and delivered every object once. */
  readonly synced: Deferred.Deferred<void>
  /** The last error the informer stopped on, for messages. */
  readonly lastError: () => string | undefined
  /**
   * Lists again and delivers what changed since the cache was last right,
   * then watches on; completes once the list has been delivered.
   */
  readonly relist: Effect.Effect<void>
}

/**
 * Starts the informer, restarts it whenever it stops on an error, and stops it
 * for good (no request left open) when the scope closes.
 */
export const superviseInformer = <T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  spec: InformerSpec<T>,
  handlers: InformerHandlers<T>,
  backoff: RestartBackoff
): Effect.Effect<SupervisedInformer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const synced = yield* Deferred.make<void>()
    const failures = yield* Queue.unbounded<unknown>()
    const closing = new AbortController()
    let listedBeforeWatch = false
    // Whether the server accepted a watch or sent anything since the last
    // (re)start: then the informer was healthy, and the next failure starts a
    // fresh backoff (a quiet watch cut by a proxy now and then is no outage).
    let active = false
    let restarts = 0
    let lastError: string | undefined
    // A relist asked for and not yet delivered, and whether the list being
    // delivered answers it.
    let relistRequest: Deferred.Deferred<void> | undefined
    let answeringRelist = false

    const keep = spec.keep
    const watch = new ClosableWatch(kubeConfig, {
      onStart: () => {
        if (!listedBeforeWatch) return relistRequest !== undefined
        listedBeforeWatch = false
        handlers.listed()
        Deferred.doneUnsafe(synced, Exit.void)
        if (answeringRelist && relistRequest !== undefined) {
          Deferred.doneUnsafe(relistRequest, Exit.void)
          relistRequest = undefined
        }
        answeringRelist = false
        return false
      },
      onWatching: () => {
        active = true
        // Asked while this watch was being opened: end it now.
        if (relistRequest !== undefined) watch.endAsGone()
      },
      onEvent: () => {
        active = true
      },
      keep: keep === undefined ? (object) => object : (object) => (spec.isObject(object) ? keep(object) : object)
    })
    const list = listObjects(kubeConfig, spec.path, spec.labelSelector, spec.isObject, keep, closing.signal)
    const informer = new ListWatch<T>(
      spec.path,
      watch,
      async () => {
        const result = await list()
        listedBeforeWatch = true
        answeringRelist = relistRequest !== undefined
        handlers.listing(answeringRelist)
        return result
      },
      false,
      spec.labelSelector,
      undefined,
      { delayFn: closableDelay(closing.signal) }
    )
    informer.on("add", handlers.added)
    informer.on("update", handlers.updated)
    informer.on("delete", handlers.deleted)
    informer.on("error", (error) => {
      // Stopping the informer aborts its watch, which reports an error too.
      if (!watch.closed) Queue.offerUnsafe(failures, error)
    })
    const start = Effect.sync(() => {
      if (watch.closed) return
      informer.start().catch((error: unknown) => {
        if (!watch.closed) Queue.offerUnsafe(failures, error)
      })
    })

    yield* observeCounter(informerRestarts(spec.resource), () => restarts)
    yield* Effect.acquireRelease(start, () =>
      Effect.sync(() => {
        watch.close()
        closing.abort()
        void informer.stop()
      })
    )

    const schedule = backoffSchedule(backoff)
    const restartAfterFailures = Effect.gen(function* () {
      let step = yield* Schedule.toStep(schedule)
      while (true) {
        const error = yield* Queue.take(failures)
        lastError = describeError(error)
        if (active) step = yield* Schedule.toStep(schedule)
        active = false
        const now = yield* Clock.currentTimeMillis
        const [, delay] = yield* Pull.catchDone(step(now, error), () => Effect.succeed([Duration.zero, Duration.zero]))
        restarts++
        yield* Effect.logWarning("informer restart").pipe(
          Effect.annotateLogs({
            informer: spec.resource,
            restart: restarts,
            delay_ms: Math.round(Duration.toMillis(delay)),
            error: lastError
          })
        )
        yield* Effect.sleep(delay).pipe(
          Effect.andThen(start),
          Effect.withSpan("informer restart", {
            attributes: {
              "aibrix.informer": spec.resource,
              "aibrix.informer.restart": restarts,
              "error.message": lastError
            }
          })
        )
      }
    })
    yield* Effect.forkScoped(restartAfterFailures)

    const relist = Effect.suspend(() => {
      if (relistRequest === undefined) {
        relistRequest = Deferred.makeUnsafe<void>()
        watch.endAsGone()
      }
      return Deferred.await(relistRequest)
    })

    return {
      resource: spec.resource,
      synced,
      lastError: () => lastError,
      relist
    }
  })
