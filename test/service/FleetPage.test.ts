/**
 * The page's routes on a real server over the test cache, the sampler driven
 * by TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { initForTest } from "../../layers/index.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter } from "../../src/cache/CacheWriter.ts"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { FleetFeed } from "../../src/service/FleetFeed.ts"
import { FEED_PATH, PAGE_PERIOD, PAGE_WINDOW } from "../../src/service/FleetPage.ts"
import { ErrorBody } from "../../src/service/ServiceApi.ts"
import { apiServer, synced } from "../support/apiServer.ts"
import { makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

interface Fetched {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const withPage = <A, E>(
  body: (get: (path: string) => Effect.Effect<Fetched>) => Effect.Effect<A, E, CacheWriter | CacheStore>
) =>
  Effect.gen(function* () {
    const url = yield* apiServer(synced)
    // The sampler's first sample, of the empty store.
    yield* Effect.yieldNow
    const get = (path: string) =>
      Effect.promise(async () => {
        const response = await fetch(url + path)
        return { status: response.status, headers: response.headers, text: await response.text() }
      })
    return yield* body(get)
  }).pipe(Effect.scoped, Effect.provide(initForTest), withFreshRegistry)

const decodeFeed = (text: string) => Schema.decodeUnknownSync(FleetFeed)(JSON.parse(text))

describe("the fleet page's routes", () => {
  it.effect(
    "serve the page, its script and stylesheet from the service alone, under a CSP that allows nothing else",
    () =>
      withPage((get) =>
        Effect.gen(function* () {
          const page = yield* get("/")
          assert.strictEqual(page.status, 200)
          assert.strictEqual(page.headers.get("content-type"), "text/html; charset=utf-8")
          const csp = page.headers.get("content-security-policy") ?? ""
          assert.include(csp, "default-src 'none'")
          assert.include(csp, "connect-src 'self'")
          assert.include(page.text, `src="/page/fleet.js"`)
          assert.include(page.text, `href="/page/fleet.css"`)
          assert.notMatch(page.text, /https?:\/\//, "the page names no other host")
          const script = yield* get("/page/fleet.js")
          assert.strictEqual(script.status, 200)
          assert.strictEqual(script.headers.get("content-type"), "text/javascript; charset=utf-8")
          assert.include(script.text, FEED_PATH)
          assert.notMatch(
            script.text,
            /https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
            "the script loads nothing from elsewhere"
          )
          const style = yield* get("/page/fleet.css")
          assert.strictEqual(style.headers.get("content-type"), "text/css; charset=utf-8")
          assert.notMatch(style.text, /url\(|@import/, "the stylesheet loads nothing")
        })
      )
  )

  it.effect("the feed: one sample a period, the samples since the cursor, and a JSON 400 for a bad cursor", () =>
    withPage((get) =>
      Effect.gen(function* () {
        const writer = yield* CacheWriter
        const store = yield* CacheStore
        yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "llama" }) }))
        const entry = store.podEntry("default", "a")!
        const running = (value: number) =>
          store.replaceEngineMetrics(
            entry,
            {
              pod: new Map(),
              models: new Map([["llama", new Map([["num_requests_running", MetricValue.simple(value)]])]])
            },
            0
          )
        running(2)
        yield* TestClock.adjust(PAGE_PERIOD)
        const first = yield* get(FEED_PATH)
        assert.strictEqual(first.headers.get("cache-control"), "no-store")
        const feed = decodeFeed(first.text)
        assert.isTrue(feed.full)
        assert.isTrue(feed.ready)
        assert.strictEqual(feed.window, PAGE_WINDOW)
        assert.deepStrictEqual(feed.models, [{ id: "llama", parent: null, pods: ["default/a"] }])
        assert.deepStrictEqual(feed.pods[0]?.history.running, [2])

        running(5)
        yield* TestClock.adjust(PAGE_PERIOD)
        running(6)
        yield* TestClock.adjust(PAGE_PERIOD)
        const next = decodeFeed((yield* get(`${FEED_PATH}?cursor=${feed.cursor}`)).text)
        assert.isFalse(next.full)
        assert.deepStrictEqual(next.pods[0]?.history.running, [5, 6])
        assert.strictEqual(next.pods[0]?.metrics.num_requests_running, 6)

        const bad = yield* get(`${FEED_PATH}?cursor=nonsense`)
        assert.strictEqual(bad.status, 400)
        const error = Schema.decodeUnknownSync(ErrorBody)(JSON.parse(bad.text))
        assert.strictEqual(error._tag, "BadRequest")
        assert.include(error.message, "cursor")
      })
    )
  )
})
