/**
 * The cache service: a live cache layer behind the HTTP API. The server starts
 * first, over the empty store, so `/healthz` answers at once and `/readyz`
 * says 503 until the source has synced; the live layer is then built over that
 * store. Closing the scope first drains (`/readyz` says 503 for a moment while
 * the server still answers), then stops the server (no new connections, the
 * responses in flight finish), then the live layer (the refresh, the trace's
 * last flush before Redis quits, the informers).
 */
import { Context, Duration, Effect, Layer, Option, Ref, Scope } from "effect"
import { HttpServer } from "effect/http"
import { type CacheServices, layerEmpty } from "../cache/Cache.ts"
import { CacheStore } from "../cache/CacheStore.ts"
import { LiveCache } from "./LiveCache.ts"
import { serveApi, type ServerOptions } from "./ServiceServer.ts"

/** Builds the live cache over the given cache layer (the server's store). */
export type LiveCacheOver<E> = (cacheLayer: Layer.Layer<CacheServices>) => Layer.Layer<CacheStore, E>

export interface ServiceOptions<E> extends ServerOptions {
  /** The source in words, for the first log line. */
  readonly source: string
  readonly live: LiveCacheOver<E>
  /** How long `/readyz` says 503 before the listener closes, once the service stops. */
  readonly drain: Duration.Duration
}

/**
 * The first step of a stop: `/readyz` says 503 for `duration` while the server
 * still answers, for the endpoints that route to this replica to let it go.
 */
const drain = (stopping: Ref.Ref<boolean>, duration: Duration.Duration): Effect.Effect<void> =>
  Ref.set(stopping, true).pipe(
    Effect.andThen(
      Duration.isZero(duration)
        ? Effect.void
        : Effect.logInfo("draining").pipe(
            Effect.annotateLogs({ ms: Duration.toMillis(duration) }),
            Effect.andThen(Effect.sleep(duration))
          )
    )
  )

/** Runs the service until interrupted; fails when the server cannot listen or the live layer cannot start. */
export const runService = <E>(options: ServiceOptions<E>) =>
  Effect.gen(function* () {
    yield* Effect.logInfo("starting").pipe(Effect.annotateLogs({ source: options.source }))
    const scope = yield* Effect.scope
    // Forked first, so it closes after the server.
    const liveScope = yield* Scope.fork(scope, "sequential")
    const store = yield* Layer.buildWithScope(layerEmpty, liveScope)
    const built = yield* Ref.make(Option.none<Context.Context<never>>())
    const stopping = yield* Ref.make(false)
    const liveCache = Layer.succeed(LiveCache, { current: Ref.get(built), stopping: Ref.get(stopping) })
    const server = yield* Layer.buildWithScope(
      serveApi(options).pipe(Layer.provide(Layer.succeedContext(store)), Layer.provide(liveCache)),
      scope
    )
    const address = HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)
    yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ url: address }))
    // Added after the server, so it runs before the server closes.
    yield* Effect.addFinalizer(() => drain(stopping, options.drain))

    const live = yield* Layer.buildWithScope(options.live(Layer.succeedContext(store)), liveScope)
    const fleet = Context.get(live, CacheStore)
    yield* Ref.set(built, Option.some(live as Context.Context<never>))
    yield* Effect.logInfo("synced").pipe(
      Effect.annotateLogs({
        pods: fleet.podCount,
        models: fleet.modelCount,
        adapters: fleet.listAdapters().length
      })
    )
    return yield* Effect.never
  }).pipe(
    Effect.onInterrupt(() => Effect.logInfo("stopping")),
    Effect.scoped,
    Effect.ensuring(Effect.logInfo("stopped"))
  )
