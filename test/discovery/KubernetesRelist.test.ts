/**
 * The periodic relist: a watch that silently lost events (the fake API server
 * drops them and keeps the watch open) is corrected by the next relist, which
 * counts and logs what it corrected. On the test clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, type Duration, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import type { RestartBackoff } from "../../src/discovery/internal/SupervisedInformer.ts"
import { capturedLogs } from "../support/capturedLogs.ts"
import {
  eventually,
  fastBackoff,
  fakeKubernetes,
  modelsOf,
  podKeysOf,
  podsServing,
  realSleep,
  startDiscovery
} from "../support/discovery.ts"
import type { FakeKubernetes } from "../support/FakeKubernetes.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"

const RELIST_LINE = "Kubernetes relist corrected the store"

/** A synced fleet: p1 (m1, adapter lora), p2 (m2); both watches open. */
const syncedFleet = (relistInterval: Duration.Input, backoff: RestartBackoff = fastBackoff) =>
  Effect.gen(function* () {
    const fake = yield* fakeKubernetes()
    fake.put("pods", makePod({ name: "p1", model: "m1", uid: "u1", ip: "10.0.0.1" }))
    fake.put("pods", makePod({ name: "p2", model: "m2", uid: "u2", ip: "10.0.0.2" }))
    fake.put("modeladapters", makeAdapter("lora", ["p1"]))
    const running = yield* startDiscovery(fake, { relistInterval, backoff })
    yield* eventually(() => assert.strictEqual(fake.openWatches(), 2))
    return { fake, ...running }
  })

/** Changes every open watch loses: an add, an update and a delete of pods, an update of the adapter. */
const changeSilently = (fake: FakeKubernetes) => {
  fake.dropNextEvents("pods", 3)
  fake.dropNextEvents("modeladapters", 1)
  fake.put("pods", makePod({ name: "p3", model: "m3", uid: "u3", ip: "10.0.0.3" }))
  fake.put("pods", makePod({ name: "p1", model: "m1", uid: "u1", ip: "10.0.0.1", ready: false }))
  fake.remove("pods", "default", "p2")
  fake.put("modeladapters", makeAdapter("lora", ["p1", "p3"]))
}

describe("periodic relist", () => {
  it.effect("corrects adds, updates and deletes a silent watch missed, counts them and logs one line", () => {
    const logs = capturedLogs()
    return Effect.gen(function* () {
      const { fake, relists, restarts, store } = yield* syncedFleet("5 minutes")
      changeSilently(fake)
      // The watches stay open and say nothing: the store does not move.
      yield* realSleep(200)
      assert.deepStrictEqual(podKeysOf(store), ["default/p1", "default/p2"])
      assert.strictEqual(fake.openWatches(), 2)

      yield* TestClock.adjust("5 minutes")
      yield* eventually(() => {
        assert.deepStrictEqual(podKeysOf(store), ["default/p1", "default/p3"])
        assert.deepStrictEqual(modelsOf(store), ["lora", "m1", "m3"])
        assert.deepStrictEqual(podsServing(store, "lora"), ["default/p1", "default/p3"])
        assert.strictEqual(store.podEntryByKey("default/p1")?.pod.status?.conditions?.[0]?.status, "False")
      })
      yield* eventually(() => assert.strictEqual(Effect.runSync(relists).modelAdapters.relists, 1))
      assert.deepStrictEqual(yield* relists, {
        pods: { relists: 1, added: 1, updated: 1, deleted: 1 },
        modelAdapters: { relists: 1, added: 0, updated: 1, deleted: 0 }
      })
      const lines = logs.lines.filter((line) => line.message === RELIST_LINE)
      assert.lengthOf(lines, 1)
      assert.deepStrictEqual(lines[0]?.annotations, {
        pods_added: 1,
        pods_updated: 1,
        pods_deleted: 1,
        model_adapters_added: 0,
        model_adapters_updated: 1,
        model_adapters_deleted: 0
      })
      // A relist is a list and a new watch from its version, not a restart.
      assert.strictEqual(fake.lists("pods"), 2)
      assert.strictEqual(fake.lists("modeladapters"), 2)
      assert.deepStrictEqual(yield* restarts, { pods: 0, modelAdapters: 0 })
      yield* eventually(() => assert.strictEqual(fake.openWatches(), 2))

      // The watch follows again; a relist that finds nothing to correct says nothing.
      fake.put("pods", makePod({ name: "p4", model: "m1", uid: "u4", ip: "10.0.0.4" }))
      yield* eventually(() => assert.deepStrictEqual(podsServing(store, "m1"), ["default/p1", "default/p4"]))
      yield* TestClock.adjust("5 minutes")
      yield* eventually(() => assert.strictEqual(Effect.runSync(relists).modelAdapters.relists, 2))
      assert.deepStrictEqual((yield* relists).pods, { relists: 2, added: 1, updated: 1, deleted: 1 })
      assert.lengthOf(
        logs.lines.filter((line) => line.message === RELIST_LINE),
        1
      )
    }).pipe(Effect.provide(logs.layer))
  })

  it.effect("a relist asked while the informer waits to restart lists when it restarts, instead of resuming", () =>
    Effect.gen(function* () {
      const { fake, relists, restarts, store } = yield* syncedFleet("5 minutes", {
        base: "10 minutes",
        cap: "10 minutes"
      })
      fake.cutWatches("pods")
      // The restart is counted when its delay starts: 10 minutes, jittered by at most 20%.
      yield* eventually(() => assert.strictEqual(Effect.runSync(restarts).pods, 1))
      fake.remove("pods", "default", "p2")
      yield* TestClock.adjust("5 minutes")
      yield* eventually(() => assert.strictEqual(fake.lists("modeladapters"), 2))
      assert.strictEqual(fake.lists("pods"), 1)
      yield* TestClock.adjust("8 minutes")
      yield* eventually(() => assert.strictEqual(Effect.runSync(relists).pods.relists, 1))
      // Resuming would have replayed the delete from the watch's history: the list found it instead.
      assert.strictEqual(fake.lists("pods"), 2)
      assert.deepStrictEqual(podKeysOf(store), ["default/p1"])
      assert.deepStrictEqual((yield* relists).pods, { relists: 1, added: 0, updated: 0, deleted: 1 })
      assert.strictEqual((yield* restarts).pods, 1)
    })
  )

  it.effect("an interval of 0 turns the relist off", () =>
    Effect.gen(function* () {
      const { fake, relists } = yield* syncedFleet("0 millis")
      yield* TestClock.adjust("1 hour")
      yield* realSleep(100)
      assert.strictEqual(fake.lists("pods"), 1)
      assert.strictEqual((yield* relists).pods.relists, 0)
    })
  )
})

describe("discovery settings from the environment", () => {
  const withEnv = (env: Record<string, string>) =>
    Effect.provide(Layer.succeed(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)))

  it.effect("AIBRIX_KUBE_RELIST_INTERVAL_MS sets the interval", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.put("pods", makePod({ name: "p1", model: "m1" }))
      yield* startDiscovery(fake).pipe(withEnv({ AIBRIX_KUBE_RELIST_INTERVAL_MS: "60000" }))
      yield* TestClock.adjust("59 seconds")
      yield* realSleep(100)
      assert.strictEqual(fake.lists("pods"), 1)
      yield* TestClock.adjust("1 second")
      yield* eventually(() => assert.strictEqual(fake.lists("pods"), 2))
    })
  )

  it.effect("AIBRIX_POD_LABEL_SELECTOR narrows the pod watch", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.put("pods", makePod({ name: "p1", model: "m1", labels: { serving: "yes" } }))
      fake.put("pods", makePod({ name: "p2", model: "m1" }))
      const { store } = yield* startDiscovery(fake).pipe(withEnv({ AIBRIX_POD_LABEL_SELECTOR: "serving=yes" }))
      assert.deepStrictEqual(podKeysOf(store), ["default/p1"])
    })
  )

  it.effect("bad values fail the start, naming the variable and the value", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      for (const [name, value] of [
        ["AIBRIX_KUBE_RELIST_INTERVAL_MS", "5m"],
        ["AIBRIX_KUBE_RELIST_INTERVAL_MS", "-1"],
        ["AIBRIX_POD_LABEL_SELECTOR", "team=llm,,x"],
        ["AIBRIX_POD_LABEL_SELECTOR", "team in ()"]
      ] as const) {
        const error = yield* Effect.flip(Effect.scoped(startDiscovery(fake).pipe(withEnv({ [name]: value }))))
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, name)
        assert.include(error.message, JSON.stringify(value))
      }
      assert.strictEqual(fake.requests, 0)
    })
  )
})
