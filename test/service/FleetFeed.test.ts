import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore, type PodEntry } from "../../src/store/FleetStore.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { BadCursor, FleetFeed, FleetFeedCache, fleetFeed, readCursor, valuesAge } from "../../src/service/FleetFeed.ts"
import { FleetHistory } from "../../src/service/FleetHistory.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"

/** The engine values of a pod of `llama` running `running` requests. */
const engineValues = (running: number) => ({
  pod: new Map(),
  models: new Map([["llama", new Map([["num_requests_running", MetricValue.simple(running)]])]])
})

const RUN = "run1"
const options = (now: number) => ({ run: RUN, periodMs: 1000, ready: true, now })

const fleet = () => {
  const store = new FleetStore()
  const events = [
    DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "llama", ip: "10.0.0.1" }) }),
    DiscoveryEvent.PodAdded({
      pod: makePod({
        name: "b",
        model: "qwen",
        ip: "10.0.0.2",
        namespace: "team",
        ready: false,
        labels: { "model.aibrix.ai/engine": "sglang" }
      })
    }),
    DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("llama-sql", ["a"]) })
  ]
  for (const event of events) store.apply(event)
  const a = store.podEntry("default", "a")!
  // Scraped at 2500 ms: fresh in the first test's feed, read at 2500 ms.
  store.replaceEngineMetrics(a, engineValues(3), 2500)
  return { store, a, history: new FleetHistory(5) }
}

describe("the fleet page's feed", () => {
  it("lists models with their pods, and every pod with its engine, readiness, figures, age and history", () => {
    const { store, history } = fleet()
    history.sample(store, 1000)
    history.sample(store, 2000)
    const feed = fleetFeed(store, history, undefined, options(2500))
    assert.strictEqual(feed.cursor, `${RUN}.2`)
    assert.isTrue(feed.full)
    assert.strictEqual(feed.at, 2000)
    assert.strictEqual(feed.window, 5)
    assert.deepStrictEqual(feed.models, [
      { id: "llama", parent: null, pods: ["default/a"] },
      { id: "qwen", parent: null, pods: ["team/b"] },
      { id: "llama-sql", parent: "llama", pods: ["default/a"] }
    ])
    const [a, b] = feed.pods
    assert.deepStrictEqual(a, {
      key: "default/a",
      uid: "uid-default-a",
      name: "a",
      namespace: "default",
      ip: "10.0.0.1",
      ready: true,
      engine: "vllm",
      base_model: "llama",
      stale: false,
      age_ms: 0,
      metrics: {
        num_requests_running: 3,
        num_requests_waiting: null,
        gpu_cache_usage_perc: null,
        realtime_num_requests_running: 0
      },
      history: { running: [3, 3], waiting: [null, null], kv_cache: [null, null], gateway_running: [0, 0] }
    })
    assert.strictEqual(b?.engine, "sglang")
    assert.isFalse(b?.ready)
    assert.isNull(b?.age_ms, "no engine values yet")
    assert.isTrue(b?.stale, "never scraped well: stale")
    // The feed is what its schema says.
    Schema.decodeUnknownSync(FleetFeed)(JSON.parse(JSON.stringify(feed)))
  })

  it("after a cursor: only the samples since, unless the cursor is of another run, ahead, or behind the window", () => {
    const { store, a, history } = fleet()
    history.sample(store, 1000)
    const first = fleetFeed(store, history, undefined, options(1000))
    store.replaceEngineMetrics(a, engineValues(7), 1500)
    history.sample(store, 2000)
    history.sample(store, 3000)
    const after = readCursor(first.cursor, RUN)
    assert.strictEqual(after, 1)
    const next = fleetFeed(store, history, after as number, options(3000))
    assert.isFalse(next.full)
    assert.deepStrictEqual(next.pods[0]?.history.running, [7, 7])
    assert.strictEqual(next.pods[0]?.metrics.num_requests_running, 7)

    assert.isUndefined(readCursor("otherrun.1", RUN), "a cursor of an earlier run gets everything")
    assert.isTrue(fleetFeed(store, history, 9, options(3000)).full, "a cursor ahead of the history")
    for (let i = 0; i < 5; i++) history.sample(store, 4000 + i * 1000)
    assert.isTrue(fleetFeed(store, history, 1, options(9000)).full, "a cursor behind the window")
    assert.isFalse(fleetFeed(store, history, 3, options(9000)).full, "a cursor at the window's edge")
    for (const bad of ["", "run1", "run1.", "RUN.1", "run1.-1", "run1.1.2", `run1.${"9".repeat(16)}`]) {
      assert.instanceOf(readCursor(bad, RUN), BadCursor, bad)
    }
  })

  it("tells how old a pod's engine values are: null without values, 0 while fresh, the time since their scrape once stale", () => {
    const { store, a, history } = fleet()
    const b = store.podEntry("team", "b")!
    const age = (entry: PodEntry, now: number) => valuesAge(entry, store.isEngineStale(entry, now), now)
    assert.isNull(age(b, 0))
    assert.strictEqual(age(a, 2900), 0, "within the stale horizon (500 ms)")
    assert.strictEqual(age(a, 6000), 3500)
    history.sample(store, 6000)
    assert.strictEqual(fleetFeed(store, history, undefined, options(6000)).pods[0]?.age_ms, 3500, "as the feed says")
    store.replaceEngineMetrics(a, engineValues(2), 7000)
    assert.strictEqual(age(a, 7000), 0)
    // Dropped after failing past the drop horizon: no values, so no age, and stale.
    store.dropEngineMetrics(a)
    assert.isNull(age(a, 20_000))
    assert.isTrue(store.isEngineStale(a, 20_000))
  })

  it("builds each answer once per sample, whatever the number of pages asking", () => {
    const { store, a, history } = fleet()
    history.sample(store, 1000)
    const feeds = new FleetFeedCache(store, history, RUN, 1000)
    const first = feeds.body(undefined, true, 1000)
    assert.instanceOf(first, Uint8Array)
    assert.strictEqual(feeds.body(undefined, true, 1200), first, "the very same bytes")
    assert.notStrictEqual(feeds.body(undefined, false, 1200), first, "readiness is part of the answer")
    assert.instanceOf(feeds.body("nonsense", true, 1200), BadCursor)

    store.replaceEngineMetrics(a, engineValues(9), 1500)
    history.sample(store, 2000)
    const next = feeds.body(`${RUN}.1`, true, 2000)
    assert.notStrictEqual(next, first)
    const decoded = Schema.decodeUnknownSync(FleetFeed)(JSON.parse(new TextDecoder().decode(next as Uint8Array)))
    assert.isFalse(decoded.full)
    assert.deepStrictEqual(decoded.pods[0]?.history.running, [9])
  })

  it("lets go of the answers of earlier samples, and of stragglers' beyond a few", async () => {
    const { store, history } = fleet()
    history.sample(store, 1000)
    const feeds = new FleetFeedCache(store, history, RUN, 1000)
    const earlier = (() => new WeakRef(feeds.body(undefined, true, 1000) as Uint8Array))()
    history.sample(store, 2000)
    feeds.body(`${RUN}.1`, true, 2000)
    assert.isTrue(await isCollected(earlier), "the answer of the sample before")
    // Pages with cursors of their own, each asking once: the answers kept stay few.
    const stragglers = (() => {
      const bodies = Array.from({ length: 32 }, (_, i) => feeds.body(`${RUN}.${100 + i}`, true, 2000) as Uint8Array)
      return bodies.slice(0, 16).map((body) => new WeakRef(body))
    })()
    for (const ref of stragglers) assert.isTrue(await isCollected(ref))
  })
})
