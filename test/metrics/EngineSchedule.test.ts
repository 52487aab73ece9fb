/**
 * The engine refresh's schedules on the TestClock: one per pod from its own
 * start, spread over the interval; at most one scrape of a pod in flight and a
 * bound over all; growing, jittered retries for a failing engine; and values
 * that carry their scrape's time, stale past one horizon, gone past another.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric } from "effect"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter, DiscoveryEvent, MetricCache, MetricValue } from "../../src/index.ts"
import { oldestValueAge, scrapeDuration, scrapes, valueAge } from "../../src/metrics/RefreshMetrics.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"
import {
  advance,
  enginePage,
  failing,
  InFlight,
  MODEL,
  ok,
  phaseOf,
  pod,
  quietTurns,
  recorder,
  refreshing,
  scrapesDone,
  statistics
} from "../support/mockRefresh.ts"
import type { MockHandler } from "../support/mockHttp.ts"

const running = (name: string) =>
  MetricCache.use((metrics) => metrics.getMetricValueByPodModel(name, "default", MODEL, "num_requests_running"))

describe("a schedule per pod", () => {
  it.effect("each pod is scraped every interval from its own start; starts are spread over the interval", () => {
    const { at, record } = recorder()
    const handler: MockHandler = (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))
    return Effect.gen(function* () {
      yield* scrapesDone(1)
      yield* advance(160)
      for (const [k, host] of ["10.0.0.1", "10.0.0.2", "10.0.0.3"].entries()) {
        const phase = phaseOf(k)
        const expected = [0, 50, 100, 150].map((n) => phase + n).filter((time) => time <= 160)
        assert.deepStrictEqual(at(host), expected, host)
      }
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1"), pod("p2", "10.0.0.2"), pod("p3", "10.0.0.3")], handler)))
  })

  it.effect("a pod has one scrape in flight at most: one that ends late makes the next start at once", () => {
    const { at, record } = recorder()
    let calls = 0
    const handler: MockHandler = (url) =>
      record(url).pipe(
        Effect.andThen(Effect.suspend(() => (calls++ === 0 ? Effect.sleep(120) : Effect.void))),
        Effect.andThen(ok(enginePage(1)))
      )
    return Effect.gen(function* () {
      yield* advance(100, 5)
      assert.deepStrictEqual(at("10.0.0.1"), [0], "the first scrape is still in flight at 100 ms")
      yield* advance(80, 5)
      assert.deepStrictEqual(at("10.0.0.1"), [0, 120, 170])
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler)))
  })

  it.effect("a hung engine costs only its own freshness: the others keep their interval", () => {
    const { at, record } = recorder()
    const handler: MockHandler = (url) =>
      record(url).pipe(Effect.andThen(url.hostname === "10.0.0.2" ? Effect.never : ok(enginePage(7))))
    return Effect.gen(function* () {
      yield* advance(1000)
      const fast = at("10.0.0.1")
      assert.strictEqual(fast.length, 21, "0, 50, ..., 1000")
      assert.deepStrictEqual(fast.slice(0, 3), [0, 50, 100])
      // The hung pod: its scrape times out after 200 ms, then waits 3/4 of 50, 100, 200, ... ms.
      const hung = at("10.0.0.2")
      const first = phaseOf(1)
      const expected = [first]
      for (let failures = 1; expected.at(-1)! + 200 < 1000; failures++) {
        expected.push(expected.at(-1)! + 200 + Math.round(0.75 * Math.min(5000, 50 * 2 ** (failures - 1))))
      }
      assert.deepStrictEqual(
        hung,
        expected.filter((time) => time <= 1000)
      )
      const { engine } = yield* statistics
      const hungStats = engine.pods.find((p) => p.key === "default/hung")!
      assert.strictEqual(hungStats.outcomes.ok, 0)
      assert.strictEqual(hungStats.failures, hungStats.outcomes.timeout)
      assert.deepStrictEqual(yield* running("fast"), MetricValue.simple(7))
    }).pipe(Effect.provide(refreshing([pod("fast", "10.0.0.1"), pod("hung", "10.0.0.2")], handler, { timeoutMs: 200 })))
  })

  it.effect("at most `concurrency` scrapes are in flight over all pods; the rest wait for a free slot", () => {
    const requests = new InFlight(() => ok(enginePage(1)), 200)
    const pods = Array.from({ length: 10 }, (_, i) => pod(`p${i}`, `10.0.0.${i + 1}`))
    return Effect.gen(function* () {
      yield* advance(60, 5)
      assert.strictEqual(requests.now, 3)
      yield* advance(600, 10)
      assert.strictEqual(requests.most, 3)
      assert.isAtLeast((yield* statistics).engine.outcomes.ok, 9)
    }).pipe(Effect.provide(refreshing(pods, requests.handler, { concurrency: 3 })))
  })

  it.effect("adding or removing a pod starts or stops its schedule alone", () => {
    const { at, record } = recorder()
    const handler: MockHandler = (url) => record(url).pipe(Effect.andThen(ok(enginePage(1))))
    return Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* scrapesDone(1)
      yield* advance(100, 5)
      yield* writer.apply(DiscoveryEvent.PodAdded({ pod: pod("p2", "10.0.0.2", { model: MODEL }) }))
      yield* advance(100, 5)
      assert.deepStrictEqual(at("10.0.0.1"), [0, 50, 100, 150, 200], "p1 keeps its times")
      const added = at("10.0.0.2")
      assert.isAtLeast(added.length, 1)
      assert.isAtLeast(added[0]!, 100)
      yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p2" }))
      yield* advance(60, 5)
      const before = at("10.0.0.2").length
      yield* advance(200, 10)
      assert.strictEqual(at("10.0.0.2").length, before, "no scrape of a pod that left")
      const first = at("10.0.0.1")
      assert.deepStrictEqual(
        first,
        first.map((_, n) => n * 50),
        "p1 kept its interval throughout"
      )
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler)))
  })

  it.effect("a pod has one connection, opened at its first scrape, closed when it leaves or its port changes", () => {
    const connections = { opened: [] as string[], closed: [] as string[] }
    return Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* advance(120, 5)
      assert.deepStrictEqual(connections.opened, ["http://10.0.0.1:8000", "http://10.0.0.2:8000"])
      assert.deepStrictEqual(connections.closed, [])
      yield* writer.apply(
        DiscoveryEvent.PodUpdated({
          oldPod: pod("p1", "10.0.0.1", { model: MODEL }),
          newPod: pod("p1", "10.0.0.1", { model: MODEL, labels: { "model.aibrix.ai/metric-port": "9100" } })
        })
      )
      yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p2" }))
      yield* advance(120, 5)
      assert.deepStrictEqual(connections.closed.sort(), ["http://10.0.0.1:8000", "http://10.0.0.2:8000"])
      assert.deepStrictEqual(connections.opened.slice(2), ["http://10.0.0.1:9100"])
    }).pipe(
      Effect.provide(
        refreshing([pod("p1", "10.0.0.1"), pod("p2", "10.0.0.2")], () => ok(enginePage(1)), {}, undefined, connections)
      )
    )
  })

  it.effect("the fibers stop with the layer's scope", () => {
    const { requests, record } = recorder()
    return Effect.gen(function* () {
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.provide(
            scrapesDone(1),
            refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1)))))
          )
        })
      )
      yield* advance(500, 50)
      assert.strictEqual(requests.length, 1)
    })
  })
})

describe("backoff for a failing engine", () => {
  it.effect("retries after growing, jittered delays up to the cap; the first good scrape resets them", () => {
    const { at, record } = recorder()
    let healthy = false
    const handler: MockHandler = (url) =>
      record(url).pipe(Effect.andThen(Effect.suspend(() => (healthy ? ok(enginePage(2)) : failing(500)))))
    return Effect.gen(function* () {
      yield* advance(900)
      // With every jitter draw at 0.5, each wait is 3/4 of min(400, 50·2^(n-1)), in whole ms: 38, 75, 150, 300, 300.
      assert.deepStrictEqual(at("10.0.0.1"), [0, 38, 113, 263, 563, 863])
      const { engine } = yield* statistics
      assert.strictEqual(engine.pods[0]!.failures, 6)
      assert.strictEqual(engine.outcomes.status, 6)
      healthy = true
      yield* advance(500)
      assert.deepStrictEqual(at("10.0.0.1").slice(6), [1163, 1213, 1263, 1313, 1363])
      assert.strictEqual((yield* statistics).engine.pods[0]!.failures, 0)
      assert.deepStrictEqual(yield* running("p1"), MetricValue.simple(2))
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler, { backoffCapMs: 400 })))
  })
})

describe("honest staleness", () => {
  it.effect("values carry their scrape's time: stale past the stale horizon, readable until the drop horizon", () => {
    let healthy = true
    const handler: MockHandler = () => (healthy ? ok(enginePage(3)) : failing(500))
    return Effect.gen(function* () {
      const store = yield* CacheStore
      const metrics = yield* MetricCache
      const entry = store.podEntry("default", "p1")!
      const scrapedAt = metrics.getEngineScrapedAt("p1", "default")
      yield* scrapesDone(1)
      assert.strictEqual(yield* scrapedAt, 0)
      healthy = false
      yield* advance(50, 5)
      assert.strictEqual(yield* scrapedAt, 0, "a failed scrape leaves the time of the last good one")
      assert.isFalse(store.isEngineStale(entry, 400))
      yield* advance(400, 10)
      assert.isFalse((yield* statistics).engine.pods[0]!.stale, "450 ms old")
      yield* advance(51, 1)
      assert.isTrue((yield* statistics).engine.pods[0]!.stale, "501 ms old")
      assert.deepStrictEqual(yield* running("p1"), MetricValue.simple(3), "stale values are still read")
      yield* advance(1498, 7)
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(running("p1"))), "1999 ms old")
      yield* advance(1, 1)
      assert.strictEqual((yield* Effect.flip(running("p1")))._tag, "MetricNotFound", "2000 ms old: dropped")
      assert.strictEqual(
        (yield* Effect.flip(metrics.getMetricValueByPod("p1", "default", "max_lora")))._tag,
        "MetricNotFound"
      )
      assert.isUndefined(yield* scrapedAt)
      const dropped = (yield* statistics).engine
      assert.deepStrictEqual([dropped.stalePods, dropped.droppedPods], [1, 1], "a dropped pod stays stale")
      healthy = true
      yield* advance(600, 10)
      assert.deepStrictEqual(yield* running("p1"), MetricValue.simple(3))
      const back = (yield* statistics).engine
      assert.deepStrictEqual([back.stalePods, back.droppedPods], [0, 0])
      assert.isFalse(store.isEngineStale(entry, (yield* scrapedAt)!))
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler, { dropAfterMs: 2000, backoffCapMs: 400 })))
  })

  it.effect("the drop comes on time even while a scrape hangs", () => {
    let hang = false
    const handler: MockHandler = () => (hang ? Effect.never : ok(enginePage(3)))
    return Effect.gen(function* () {
      yield* scrapesDone(1)
      hang = true
      yield* advance(999, 3)
      assert.isTrue(Exit.isSuccess(yield* Effect.exit(running("p1"))))
      yield* advance(1, 1)
      assert.strictEqual((yield* Effect.flip(running("p1")))._tag, "MetricNotFound")
    }).pipe(Effect.provide(refreshing([pod("p1", "10.0.0.1")], handler, { dropAfterMs: 1000, timeoutMs: 5000 })))
  })

  it.effect("a pod never scraped well is stale, and the oldest age among ready pods counts from its start", () =>
    Effect.gen(function* () {
      yield* advance(300, 10)
      const { engine } = yield* statistics
      assert.deepStrictEqual(engine.pods.map((p) => [p.key, p.stale, p.ageMs]).sort(), [
        ["default/dead", true, undefined],
        ["default/fine", false, 0]
      ])
      assert.strictEqual(engine.oldestAgeMs, 300)
      assert.strictEqual((yield* Metric.value(oldestValueAge)).value, 0.3)
      assert.strictEqual(yield* MetricCache.use((m) => m.getEngineScrapedAt("dead", "default")), undefined)
    }).pipe(
      Effect.provide(
        refreshing([pod("fine", "10.0.0.1"), pod("dead", "10.0.0.2")], (url) =>
          url.hostname === "10.0.0.2" ? failing(503) : ok(enginePage(1))
        )
      ),
      withFreshRegistry
    )
  )

  it.effect("a pod that is not ready is not scraped; its values age and drop the same way", () => {
    const { requests, record } = recorder()
    return Effect.gen(function* () {
      const writer = yield* CacheWriter
      yield* scrapesDone(1)
      yield* writer.apply(
        DiscoveryEvent.PodUpdated({
          oldPod: pod("p1", "10.0.0.1", { model: MODEL }),
          newPod: pod("p1", "10.0.0.1", { model: MODEL, ready: false })
        })
      )
      yield* advance(60, 5)
      const scrapes = requests.length
      yield* advance(500, 10)
      assert.strictEqual(requests.length, scrapes)
      assert.isTrue((yield* statistics).engine.pods[0]!.stale)
      assert.deepStrictEqual(yield* running("p1"), MetricValue.simple(1))
      yield* advance(500, 10)
      assert.strictEqual((yield* Effect.flip(running("p1")))._tag, "MetricNotFound")
    }).pipe(
      Effect.provide(
        refreshing([pod("p1", "10.0.0.1")], (url) => record(url).pipe(Effect.andThen(ok(enginePage(1)))), {
          dropAfterMs: 1000
        })
      )
    )
  })

  it.effect("each scrape's duration and the values' age go into the registry's histograms", () => {
    const handler: MockHandler = (url) =>
      url.hostname === "10.0.0.2" ? Effect.never : Effect.sleep(5).pipe(Effect.andThen(ok(enginePage(1))))
    return Effect.gen(function* () {
      yield* advance(240, 5)
      yield* quietTurns
      const { engine } = yield* statistics
      const durations = yield* Metric.value(scrapeDuration)
      const ages = yield* Metric.value(valueAge)
      const total = engine.outcomes.ok + engine.outcomes.timeout
      assert.strictEqual(durations.count, total)
      assert.strictEqual(ages.count, total)
      assert.strictEqual(engine.outcomes.timeout, 1, "the hung pod's first scrape timed out at 200 ms")
      const bucket = (bound: number) => durations.buckets.find(([le]) => le === bound)?.[1] ?? 0
      assert.strictEqual(bucket(0.005), engine.outcomes.ok, "the good ones took 5 ms")
      assert.strictEqual(bucket(0.25) - bucket(0.1), 1)
      // A good pod's values date from when their scrape began: an interval and 5 ms old when the next one ends.
      const ageBucket = (bound: number) => ages.buckets.find(([le]) => le === bound)?.[1] ?? 0
      assert.strictEqual(ageBucket(0.075) - ageBucket(0.05), engine.outcomes.ok - 1)
      assert.strictEqual((yield* Metric.value(scrapes.timeout)).count, 1)
      assert.strictEqual((yield* Metric.value(scrapes.ok)).count, engine.outcomes.ok)
    }).pipe(
      Effect.provide(refreshing([pod("fine", "10.0.0.1"), pod("hung", "10.0.0.2")], handler, { timeoutMs: 200 })),
      withFreshRegistry
    )
  })
})
