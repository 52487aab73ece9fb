/**
 * The service's HTTP server in a test: the API and the fleet page on a real
 * server on port 0, over the test cache of the context (`initForTest`).
 */
import { Context, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import * as CacheMetrics from "../../src/cache/CacheMetrics.ts"
import { CacheReadiness, makeReadinessSignal } from "../../src/cache/CacheReadiness.ts"
import { serveApi } from "../../src/service/ServiceServer.ts"

/** A readiness already raised: the source's initial sync is in the store. */
export const synced: Layer.Layer<CacheReadiness> = Layer.effect(
  CacheReadiness,
  Effect.gen(function* () {
    const signal = yield* makeReadinessSignal
    yield* signal.markReady
    return signal.readiness
  })
)

/** The server with `readiness` and the cache's metric families, for the scope; its base URL. */
export const apiServer = (readiness: Layer.Layer<CacheReadiness>) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      serveApi({ host: "127.0.0.1", port: 0 }).pipe(Layer.provideMerge(Layer.merge(readiness, CacheMetrics.layer)))
    )
    return HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
  })
