import { Context, type Effect } from "effect"
import type { RoutingContext } from "../store/RoutingContext.ts"

/** The request's routing context, when the caller has one. */
export type MaybeRoutingContext = RoutingContext | null | undefined

/**
 * The gateway's own counts (pending per model, running per pod) and, when the
 * trace is on, the per-model workload trace. Each request counts exactly once.
 */
export class RequestTracker extends Context.Service<
  RequestTracker,
  {
    /** Counts a new request; returns its trace term, to hand back to `done*`. */
    addRequestCount(ctx: MaybeRoutingContext, requestId: string, model: string): Effect.Effect<number>
    /** Gives back what `addRequestCount` counted for this request id. */
    doneRequestCount(ctx: MaybeRoutingContext, requestId: string, model: string, term: number): Effect.Effect<void>
    /** As `doneRequestCount`, and records the request's token sizes in the trace. */
    doneRequestTrace(
      ctx: MaybeRoutingContext,
      requestId: string,
      model: string,
      inputTokens: number,
      outputTokens: number,
      term: number
    ): Effect.Effect<void>
  }
>()("aibrix-cache/RequestTracker") {}
