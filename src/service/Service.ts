/**
 * The cache service: a live cache layer behind the HTTP API. The server starts
 * first, over the empty store, so `/healthz` answers at once and `/readyz`
 * says 503 until the source has synced; the live layer is then built over that
 * store. Closing the scope stops the server first (no new connections, the
 * responses in flight finish), then the live layer (the refresh, the trace's
 * last flush before Redis quits, the informers).
 */
import { Context, Effect, Layer, Option, Ref, Scope } from "effect"
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
  /** Where OpenTelemetry traces go, when they do, for the first log line. */
  readonly traces?: string
  readonly live: LiveCacheOver<E>
}

/** Runs the service until interrupted; fails when the server cannot listen or the live layer cannot start. */
export const runService = <E>(options: ServiceOptions<E>) =>
  Effect.gen(function* () {
    yield* Effect.logInfo("starting").pipe(
      Effect.annotateLogs(
        options.traces === undefined ? { source: options.source } : { source: options.source, traces: options.traces }
      )
    )
    const scope = yield* Effect.scope
    // Forked first, so it closes after the server.
    const liveScope = yield* Scope.fork(scope, "sequential")
    const store = yield* Layer.buildWithScope(layerEmpty, liveScope)
    const built = yield* Ref.make(Option.none<Context.Context<never>>())
    const liveCache = Layer.succeed(LiveCache, { current: Ref.get(built) })
    const server = yield* Layer.buildWithScope(
      serveApi(options).pipe(Layer.provide(Layer.succeedContext(store)), Layer.provide(liveCache)),
      scope
    )
    const address = HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)
    yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ url: address }))

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
