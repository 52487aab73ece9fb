/**
 * The live cache as the service's HTTP server sees it. The server starts before
 * the discovery source has synced (so `/readyz` can say 503 meanwhile), and the
 * live layer's context (readiness, refresh statistics, informer restarts, trace
 * counts) becomes available once that layer is built. Once the service is
 * stopping, `/readyz` says 503 again while the server still answers, so that
 * load balancers stop sending before the listener closes.
 */
import { Context, Effect, Layer, Option } from "effect"
import { CacheReadiness } from "../cache/CacheReadiness.ts"

export class LiveCache extends Context.Service<
  LiveCache,
  {
    /** The live layer's context; none while it is being built. */
    readonly current: Effect.Effect<Option.Option<Context.Context<never>>>
    /** True once the service has begun to stop. */
    readonly stopping: Effect.Effect<boolean>
  }
>()("aibrix-cache/LiveCache") {
  /** A live cache already built, with this context. */
  static readonly built = <R>(context: Context.Context<R>): Layer.Layer<LiveCache> =>
    Layer.succeed(LiveCache, {
      current: Effect.succeed(Option.some(context as Context.Context<never>)),
      stopping: Effect.succeed(false)
    })
}

/**
 * Ready: the live layer is built and, when it has a readiness signal, the
 * signal is raised.
 */
export const isLiveReady: Effect.Effect<boolean, never, LiveCache> = Effect.gen(function* () {
  const context = yield* (yield* LiveCache).current
  if (Option.isNone(context)) return false
  const readiness = Context.getOption(context.value, CacheReadiness)
  return Option.isNone(readiness) ? true : yield* readiness.value.isReady
})
