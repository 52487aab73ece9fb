/**
 * Kubernetes discovery against the fake API server: the client's real
 * informers list and watch it, and the store must follow.
 */
import { assert, describe, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { Effect, Exit, Fiber, Layer, Scope } from "effect"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { MODEL_LABEL, POD_GROUP_INDEX_LABEL } from "../../src/store/Pod.ts"
import { makeAdapter, makePod, type PodOptions } from "../support/fixtures.ts"
import {
  discoveryLayer,
  eventually,
  fakeKubernetes,
  modelsOf,
  podKeysOf,
  podsServing,
  realSleep,
  startDiscovery
} from "../support/discovery.ts"
import type { FakeKubernetes } from "../support/FakeKubernetes.ts"

const putPod = (fake: FakeKubernetes, options: PodOptions): V1Pod => fake.put("pods", makePod(options))

describe("Kubernetes discovery: initial sync", () => {
  it.live("lists every pod in all namespaces and keeps those that name a model, with their adapters", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "p1", model: "m1" })
      putPod(fake, { name: "p1", model: "m1", namespace: "other", ip: "10.0.0.2" })
      putPod(fake, { name: "unlabelled" })
      putPod(fake, { name: "worker", model: "m1", labels: { "ray.io/node-type": "worker" } })
      fake.put("modeladapters", makeAdapter("lora-a", ["p1", "unknown-pod"]))
      fake.put("modeladapters", makeAdapter("lora-b", ["p1"], "other"))

      const { readiness, store } = yield* startDiscovery(fake)

      assert.isTrue(yield* readiness.isReady)
      assert.deepStrictEqual(podKeysOf(store), ["default/p1", "other/p1"])
      assert.deepStrictEqual(modelsOf(store), ["lora-a", "lora-b", "m1"])
      assert.deepStrictEqual(podsServing(store, "lora-a"), ["default/p1"])
      assert.deepStrictEqual(podsServing(store, "lora-b"), ["other/p1"])
      assert.strictEqual(fake.lists("pods"), 1)
      assert.strictEqual(fake.lists("modeladapters"), 1)
    })
  )

  it.live("a pod with only the model annotation is listed under that name; the label wins over it", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "annotated", annotations: { [MODEL_LABEL]: "org/model" } })
      putPod(fake, { name: "both", model: "label-model", annotations: { [MODEL_LABEL]: "org/other" } })
      const { store } = yield* startDiscovery(fake)
      assert.deepStrictEqual(modelsOf(store), ["label-model", "org/model"])
      assert.deepStrictEqual(podsServing(store, "org/model"), ["default/annotated"])
      putPod(fake, { name: "late", ip: "10.0.0.3", annotations: { [MODEL_LABEL]: "org/model" } })
      yield* eventually(() =>
        assert.deepStrictEqual(podsServing(store, "org/model"), ["default/annotated", "default/late"])
      )
    })
  )

  it.live("of a StormService pod group only the leader (index 0) is tracked", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      for (const index of ["0", "1", "2"]) {
        putPod(fake, { name: `group-${index}`, model: "m1", labels: { [POD_GROUP_INDEX_LABEL]: index } })
      }
      const { store } = yield* startDiscovery(fake)
      assert.deepStrictEqual(podKeysOf(store), ["default/group-0"])
      putPod(fake, { name: "group-3", model: "m1", labels: { [POD_GROUP_INDEX_LABEL]: "3" } })
      putPod(fake, { name: "solo", model: "m1" })
      yield* eventually(() => assert.deepStrictEqual(podKeysOf(store), ["default/group-0", "default/solo"]))
    })
  )

  it.live("a label selector narrows the watch to the pods it selects", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "selected", model: "m1", labels: { team: "llm" } })
      putPod(fake, { name: "other-team", model: "m2", labels: { team: "web" } })
      const { store } = yield* startDiscovery(fake, { podLabelSelector: "team=llm" })
      assert.deepStrictEqual(podKeysOf(store), ["default/selected"])
      putPod(fake, { name: "late", model: "m1", ip: "10.0.0.2", labels: { team: "llm" } })
      putPod(fake, { name: "selected", model: "m1", labels: { team: "web" } })
      yield* eventually(() => assert.deepStrictEqual(podKeysOf(store), ["default/late"]))
    })
  )

  it.live("maps adapters listed before their pods", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "p1", model: "m1" })
      putPod(fake, { name: "p2", model: "m1" })
      fake.put("modeladapters", makeAdapter("lora", ["p1", "p2"]))
      // The pods' list answers well after the adapters' one.
      fake.setListDelay("pods", 300)

      const { store } = yield* startDiscovery(fake)

      assert.deepStrictEqual(podsServing(store, "lora"), ["default/p1", "default/p2"])
      assert.deepStrictEqual(store.podEntryByKey("default/p1")?.modelNames(), ["m1", "lora"])
    })
  )

  it.live("maps adapters listed after their pods", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "p1", model: "m1" })
      fake.put("modeladapters", makeAdapter("lora", ["p1"]))
      fake.setListDelay("modeladapters", 300)

      const { store } = yield* startDiscovery(fake)

      assert.deepStrictEqual(podsServing(store, "lora"), ["default/p1"])
    })
  )

  it.live("an empty cluster syncs and is ready", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      const { readiness, store } = yield* startDiscovery(fake)
      yield* readiness.awaitReady
      assert.strictEqual(store.podCount, 0)
    })
  )
})

describe("Kubernetes discovery: watch events", () => {
  /** A synced store holding pod p1 (model m1, adapter lora, one metric). */
  const withServingPod = Effect.gen(function* () {
    const fake = yield* fakeKubernetes()
    const pod = putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.1" })
    fake.put("modeladapters", makeAdapter("lora", ["p1"]))
    const running = yield* startDiscovery(fake)
    const { store } = running
    assert.isTrue(store.setPodMetric("default/p1", "gpu_cache_usage_perc", MetricValue.simple(0.5)))
    assert.deepStrictEqual(store.podEntryByKey("default/p1")?.modelNames(), ["m1", "lora"])
    return { fake, pod, ...running }
  })

  it.live("the same pod updated (readiness) keeps its adapters and metrics, and shows the new object", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      const stored = putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.1", ready: false })
      const entry = yield* eventually(() => {
        const entry = store.podEntryByKey("default/p1")
        assert.strictEqual(entry?.pod.metadata?.resourceVersion, stored.metadata?.resourceVersion)
        return entry!
      })
      assert.strictEqual(entry.pod.status?.conditions?.[0]?.status, "False")
      assert.deepStrictEqual(entry.modelNames(), ["m1", "lora"])
      assert.deepStrictEqual(entry.podMetrics.get("gpu_cache_usage_perc"), MetricValue.simple(0.5))
    })
  )

  it.live("a changed base model label re-maps the same pod, metrics kept", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      putPod(fake, { name: "p1", model: "m2", uid: "uid-1", ip: "10.0.0.1" })
      yield* eventually(() => assert.deepStrictEqual(modelsOf(store), ["lora", "m2"]))
      const entry = store.podEntryByKey("default/p1")!
      assert.deepStrictEqual(entry.modelNames(), ["m2", "lora"])
      assert.isTrue(entry.podMetrics.has("gpu_cache_usage_perc"))
    })
  )

  it.live("a new pod IP is a new engine: metrics are dropped, the adapter listing it maps it anew", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      const before = store.podEntryByKey("default/p1")!
      putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.9" })
      const entry = yield* eventually(() => {
        const entry = store.podEntryByKey("default/p1")
        assert.strictEqual(entry?.podIp, "10.0.0.9")
        return entry!
      })
      assert.isTrue(before.removed)
      assert.deepStrictEqual(entry.modelNames(), ["m1", "lora"])
      assert.isFalse(entry.podMetrics.has("gpu_cache_usage_perc"))
    })
  )

  it.live("a pod recreated with a new UID (one MODIFIED event) is a new pod", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      const before = store.podEntryByKey("default/p1")!
      putPod(fake, { name: "p1", model: "m1", uid: "uid-2", ip: "10.0.0.1" })
      const entry = yield* eventually(() => {
        const entry = store.podEntryByKey("default/p1")
        assert.strictEqual(entry?.uid, "uid-2")
        return entry!
      })
      assert.isTrue(before.removed)
      assert.deepStrictEqual(entry.modelNames(), ["m1", "lora"])
      assert.isFalse(entry.podMetrics.has("gpu_cache_usage_perc"))
    })
  )

  it.live("a pod deleted and recreated under its name is a new pod, mapped again to the adapter listing it", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      fake.remove("pods", "default", "p1")
      yield* eventually(() => assert.isFalse(store.hasModel("lora")))
      putPod(fake, { name: "p1", model: "m1", uid: "uid-2", ip: "10.0.0.2" })
      yield* eventually(() => assert.strictEqual(store.podEntryByKey("default/p1")?.uid, "uid-2"))
      assert.deepStrictEqual(store.podEntryByKey("default/p1")?.modelNames(), ["m1", "lora"])
      assert.isFalse(store.podEntryByKey("default/p1")?.podMetrics.has("gpu_cache_usage_perc"))
    })
  )

  it.live("an adapter created after the sync, before its pod, maps the pod the moment it arrives", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      fake.put("modeladapters", makeAdapter("lora-late", ["p2"]))
      yield* eventually(() => assert.lengthOf(store.listAdapters(), 2))
      assert.isFalse(store.hasModel("lora-late"))
      putPod(fake, { name: "p2", model: "m1", ip: "10.0.0.2" })
      yield* eventually(() => assert.deepStrictEqual(podsServing(store, "lora-late"), ["default/p2"]))
      assert.deepStrictEqual(store.podEntryByKey("default/p2")?.modelNames(), ["m1", "lora-late"])
    })
  )

  it.live("an adapter listed at the sync for a pod that comes long after maps it when it comes", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.put("modeladapters", makeAdapter("lora", ["p1"]))
      const { store } = yield* startDiscovery(fake)
      assert.isFalse(store.hasModel("lora"))
      yield* realSleep(100)
      putPod(fake, { name: "p1", model: "m1" })
      yield* eventually(() => assert.deepStrictEqual(podsServing(store, "lora"), ["default/p1"]))
    })
  )

  it.live("a pod not tracked at first (no model) is added whole once it names one, and gone once it does not", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      putPod(fake, { name: "p2", ip: "10.0.0.2" })
      putPod(fake, { name: "p3", model: "m1", ip: "10.0.0.3" })
      yield* eventually(() => assert.deepStrictEqual(podKeysOf(store), ["default/p1", "default/p3"]))
      const labelled = putPod(fake, { name: "p2", model: "m2", ip: "10.0.0.2" })
      const entry = yield* eventually(() => {
        const entry = store.podEntryByKey("default/p2")
        assert.isDefined(entry)
        return entry!
      })
      assert.deepStrictEqual(entry.pod, labelled)
      putPod(fake, { name: "p2", ip: "10.0.0.2" })
      yield* eventually(() => assert.isFalse(store.hasModel("m2")))
      assert.deepStrictEqual(podKeysOf(store), ["default/p1", "default/p3"])
    })
  )

  it.live("a renamed pod: the old name goes, the new one comes without the old one's adapters", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      fake.remove("pods", "default", "p1")
      putPod(fake, { name: "p1-renamed", model: "m1", uid: "uid-1", ip: "10.0.0.1" })
      yield* eventually(() => assert.deepStrictEqual(podKeysOf(store), ["default/p1-renamed"]))
      assert.deepStrictEqual(modelsOf(store), ["m1"])
      assert.isFalse(store.hasModel("lora"))
    })
  )

  it.live("a pod whose model label is removed is gone", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      putPod(fake, { name: "p1", uid: "uid-1", ip: "10.0.0.1" })
      yield* eventually(() => assert.strictEqual(store.podCount, 0))
      assert.deepStrictEqual(modelsOf(store), [])
    })
  )

  it.live("a pod that became a ray worker is gone", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.1", labels: { "ray.io/node-type": "worker" } })
      yield* eventually(() => assert.strictEqual(store.podCount, 0))
      assert.deepStrictEqual(modelsOf(store), [])
    })
  )

  it.live("adapters: added, updated to other instances, deleted", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      putPod(fake, { name: "p2", model: "m1", ip: "10.0.0.2" })
      yield* eventually(() => assert.strictEqual(store.podCount, 2))
      fake.put("modeladapters", makeAdapter("lora", ["p2"]))
      yield* eventually(() => assert.deepStrictEqual(podsServing(store, "lora"), ["default/p2"]))
      fake.put("modeladapters", makeAdapter("other", ["p1", "p2"]))
      yield* eventually(() => assert.deepStrictEqual(podsServing(store, "other"), ["default/p1", "default/p2"]))
      fake.remove("modeladapters", "default", "lora")
      yield* eventually(() => assert.isFalse(store.hasModel("lora")))
      assert.deepStrictEqual(store.podEntryByKey("default/p2")?.modelNames(), ["m1", "other"])
    })
  )

  it.live("a pod deleted is gone with its model", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* withServingPod
      fake.remove("pods", "default", "p1")
      yield* eventually(() => assert.strictEqual(store.podCount, 0))
      assert.deepStrictEqual(modelsOf(store), [])
    })
  )

  it.live("bookmarks and cleanly ended watches are handled by the client without a restart", () =>
    Effect.gen(function* () {
      const { fake, restarts, store } = yield* withServingPod
      fake.bookmark()
      fake.endWatches()
      yield* eventually(() => assert.strictEqual(fake.openWatches(), 2))
      putPod(fake, { name: "p2", model: "m2", ip: "10.0.0.2" })
      yield* eventually(() => assert.deepStrictEqual(modelsOf(store), ["lora", "m1", "m2"]))
      assert.deepStrictEqual(yield* restarts, { pods: 0, modelAdapters: 0 })
    })
  )
})

describe("Kubernetes discovery: disconnects", () => {
  const changeWhileDisconnected = (fake: FakeKubernetes) => {
    // In the same tick as the cut: the client cannot have reconnected yet.
    fake.remove("pods", "default", "p2")
    fake.remove("modeladapters", "default", "lora-2")
    putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.1", ready: false })
    putPod(fake, { name: "p3", model: "m3", ip: "10.0.0.3" })
  }

  const syncedFleet = (options: { readonly goneAsHttpStatus?: boolean } = {}) =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes(options)
      putPod(fake, { name: "p1", model: "m1", uid: "uid-1", ip: "10.0.0.1" })
      putPod(fake, { name: "p2", model: "m2", ip: "10.0.0.2" })
      fake.put("modeladapters", makeAdapter("lora-1", ["p1"]))
      fake.put("modeladapters", makeAdapter("lora-2", ["p2"]))
      const running = yield* startDiscovery(fake)
      assert.deepStrictEqual(modelsOf(running.store), ["lora-1", "lora-2", "m1", "m2"])
      // Synced means the watches were asked for; wait until the server holds them.
      yield* eventually(() => assert.strictEqual(fake.openWatches(), 2))
      return { fake, ...running }
    })

  const assertReconciled = (fake: FakeKubernetes, store: import("../../src/store/FleetStore.ts").FleetStore) =>
    eventually(() => {
      assert.deepStrictEqual(podKeysOf(store), ["default/p1", "default/p3"])
      assert.deepStrictEqual(modelsOf(store), ["lora-1", "m1", "m3"])
      assert.strictEqual(
        store.podEntryByKey("default/p1")?.pod.metadata?.resourceVersion,
        fake.get("pods", "default", "p1")?.metadata?.resourceVersion
      )
    })

  it.live("a watch cut mid-stream is restarted by our backoff, resumes, and replays what it missed", () =>
    Effect.gen(function* () {
      const { fake, restarts, store } = yield* syncedFleet()
      fake.cutWatches()
      changeWhileDisconnected(fake)
      yield* assertReconciled(fake, store)
      // The adapters' restart may still be on its way when the pods' one reconciled.
      yield* eventually(() => assert.deepStrictEqual(Effect.runSync(restarts), { pods: 1, modelAdapters: 1 }))
      // It resumed from its resource version: no relist was needed.
      assert.strictEqual(fake.lists("pods"), 1)
    })
  )

  it.live("a cut watch whose version was compacted meanwhile relists, and deletes what vanished", () =>
    Effect.gen(function* () {
      const { fake, restarts, store } = yield* syncedFleet()
      fake.cutWatches()
      changeWhileDisconnected(fake)
      fake.compact()
      yield* assertReconciled(fake, store)
      // The pods' relist alone already reconciles the view (p2 took lora-2 with
      // it): wait for the adapters' relist as well.
      yield* eventually(() => {
        assert.strictEqual(fake.lists("pods"), 2)
        assert.strictEqual(fake.lists("modeladapters"), 2)
      })
      assert.deepStrictEqual(yield* restarts, { pods: 1, modelAdapters: 1 })
    })
  )

  it.live("410 Gone as a watch event: the client relists, no restart needed", () =>
    Effect.gen(function* () {
      const { fake, restarts, store } = yield* syncedFleet()
      changeWhileDisconnectedAfterExpiry(fake)
      yield* assertReconciled(fake, store)
      assert.strictEqual(fake.lists("pods"), 2)
      assert.deepStrictEqual(yield* restarts, { pods: 0, modelAdapters: 0 })
    })
  )

  it.live("410 Gone as an HTTP status on the watch: the client relists", () =>
    Effect.gen(function* () {
      const { fake, store } = yield* syncedFleet({ goneAsHttpStatus: true })
      fake.cutWatches()
      changeWhileDisconnected(fake)
      fake.compact()
      yield* assertReconciled(fake, store)
      assert.strictEqual(fake.lists("pods"), 2)
    })
  )

  it.live("lists failing with 500 after a cut are retried until they succeed", () =>
    Effect.gen(function* () {
      const { fake, restarts, store } = yield* syncedFleet()
      fake.failNextLists("pods", 3)
      fake.cutWatches("pods")
      changeWhileDisconnected(fake)
      fake.compact("pods")
      yield* assertReconciled(fake, store)
      assert.strictEqual(fake.lists("pods"), 5)
      assert.strictEqual((yield* restarts).pods, 4)
    })
  )

  const changeWhileDisconnectedAfterExpiry = (fake: FakeKubernetes) => {
    fake.expireWatches()
    changeWhileDisconnected(fake)
  }
})

describe("Kubernetes discovery: scope", () => {
  it.live("closing the scope stops every request to the server", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      putPod(fake, { name: "p1", model: "m1" })
      // A child of the test's scope: closed by the test, and by the test's end if it fails first.
      const scope = yield* Scope.fork(yield* Scope.Scope)
      const { store } = yield* Effect.provideService(startDiscovery(fake), Scope.Scope, scope)
      yield* eventually(() => assert.strictEqual(fake.openWatches(), 2))
      yield* Scope.close(scope, Exit.void)
      yield* eventually(() => {
        assert.strictEqual(fake.openWatches(), 0)
        assert.strictEqual(fake.openRequests, 0)
      })
      const requests = fake.requests
      // Nothing reconnects: not on a cut, not on a change.
      fake.cutWatches()
      putPod(fake, { name: "p2", model: "m1" })
      yield* realSleep(300)
      assert.strictEqual(fake.requests, requests)
      assert.strictEqual(fake.openWatches(), 0)
      assert.strictEqual(store.podCount, 1)
    })
  )

  it.live("closing the scope during a slow list aborts it, and no watch opens after", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.setListDelay("pods", 60_000)
      const fiber = yield* Effect.forkChild(Layer.build(discoveryLayer(fake)).pipe(Effect.scoped))
      yield* Effect.promise(() => fake.waitForLists("pods", 1))
      yield* eventually(() => assert.strictEqual(fake.openWatches("modeladapters"), 1))
      yield* Fiber.interrupt(fiber)
      yield* eventually(() => {
        assert.strictEqual(fake.openRequests, 0)
        assert.strictEqual(fake.openWatches(), 0)
      })
      yield* realSleep(200)
      assert.strictEqual(fake.watches("pods"), 0)
    })
  )
})
