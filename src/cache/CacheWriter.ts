import { Context, type Effect } from "effect"
import type { DiscoveryEvent } from "../store/DiscoveryEvent.ts"

/** How discovery sources (and tests) feed the store. */
export class CacheWriter extends Context.Service<
  CacheWriter,
  {
    /** Applies one event; a malformed object is logged and skipped, never thrown. */
    apply(event: DiscoveryEvent): Effect.Effect<void>
    /** Applies events in order, as one synchronous step. */
    applyAll(events: Iterable<DiscoveryEvent>): Effect.Effect<void>
  }
>()("aibrix-cache/CacheWriter") {}
