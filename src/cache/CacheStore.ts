import { Context } from "effect"
import type { FleetStore } from "../store/FleetStore.ts"

/**
 * The store behind a cache layer, for the parts that feed it from the edges
 * (metric refresh, trace flush) and for the service's own views.
 */
export class CacheStore extends Context.Service<CacheStore, FleetStore>()("aibrix-cache/CacheStore") {}
