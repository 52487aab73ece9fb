/**
 * The service's own metrics, as the `/metrics` page shows them: what the cache
 * tracks, and the counts the live pieces keep (scrapes, informer restarts,
 * trace flushes) when they run in this process.
 */
import { Effect } from "effect"
import { CacheStore } from "./CacheStore.ts"
import { ExpositionWriter } from "./ExpositionWriter.ts"
import { isReady } from "./Pod.ts"

const PREFIX = "aibrix_cache_"

/** Renders the page from the store and whichever live pieces are present. */
export const renderServiceMetrics: Effect.Effect<string, never, CacheStore> = Effect.gen(function*() {
  const store = yield* CacheStore
  const page = new ExpositionWriter()
  let ready = 0
  for (const entry of store.podEntries()) if (isReady(entry.pod)) ready++
  page
    .gauge(`${PREFIX}pods`, "Pods tracked, by readiness.", [
      { labels: { ready: "true" }, value: ready },
      { labels: { ready: "false" }, value: store.podCount - ready }
    ])
    .gauge(`${PREFIX}models`, "Models and adapters served by at least one tracked pod.", [{ value: store.modelCount }])
    .gauge(`${PREFIX}adapters`, "ModelAdapters applied.", [{ value: store.listAdapters().length }])
    .gauge(`${PREFIX}requests_in_flight`, "Requests counted and not yet done.", [{ value: store.inFlightCount }])
  return page.toString()
})
