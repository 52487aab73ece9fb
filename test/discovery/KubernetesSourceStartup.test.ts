/**
 * Starting Kubernetes discovery: where the kubeconfig comes from, lists that
 * fail on our backoff's clock (TestClock), and the sync timeout.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, ConfigProvider, Context, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import { TestClock } from "effect/testing"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layerEmpty } from "../../src/cache/Cache.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { DiscoverySyncTimeout, KubeConfigInvalid, KubeConfigNotFound } from "../../src/discovery/DiscoveryErrors.ts"
import { checkKubeConfig, findKubeConfig, loadKubeConfig } from "../../src/discovery/KubeConfigLoader.ts"
import { kubernetesDiscovery } from "../../src/discovery/KubernetesSource.ts"
import { backoffSchedule } from "../../src/discovery/internal/SupervisedInformer.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { eventually, fakeKubernetes, podKeysOf, realSleep, startDiscovery } from "../support/discovery.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "aibrix-kube-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env)))

describe("kubeconfig", () => {
  it.live("KUBECONFIG names the file the source watches through", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.put("pods", makePod({ name: "p1", model: "m1" }))
      const dir = yield* tempDir
      const file = path.join(dir, "config")
      fs.writeFileSync(file, fake.kubeConfigYaml())
      const context = yield* Layer.build(
        kubernetesDiscovery({ backoff: { base: "10 millis", cap: "50 millis" } }).pipe(Layer.provideMerge(layerEmpty))
      ).pipe(withEnv({ KUBECONFIG: file, HOME: dir }))
      const store = Context.get(context, CacheStore)
      assert.deepStrictEqual(podKeysOf(store), ["default/p1"])
    })
  )

  it.effect("without KUBECONFIG, the default file under HOME is used", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      fs.mkdirSync(path.join(dir, ".kube"))
      fs.writeFileSync(
        path.join(dir, ".kube", "config"),
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.1.2.3:6443\n" +
          "users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n" +
          "current-context: x\n"
      )
      const config = yield* loadKubeConfig.pipe(withEnv({ HOME: dir }))
      assert.strictEqual(config.getCurrentCluster()?.server, "https://10.1.2.3:6443")
    })
  )

  it.effect("finding none is an error that says where it looked", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const error = yield* Effect.flip(loadKubeConfig.pipe(withEnv({ HOME: dir })))
      assert.instanceOf(error, KubeConfigNotFound)
      assert.include(error.message, "KUBECONFIG (unset)")
      assert.include(error.message, path.join(dir, ".kube", "config"))
      assert.include(error.message, "KUBERNETES_SERVICE_HOST unset")
    })
  )

  it.effect("in-cluster takes the service account's token file, not only KUBERNETES_SERVICE_HOST", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const env = withEnv({ HOME: dir, KUBERNETES_SERVICE_HOST: "10.0.0.1" })
      const error = yield* Effect.flip(findKubeConfig({ serviceAccountPrefix: dir }).pipe(env))
      assert.instanceOf(error, KubeConfigNotFound)
      const token = path.join(dir, "var/run/secrets/kubernetes.io/serviceaccount/token")
      assert.include(error.message, `${token} absent`)
      fs.mkdirSync(path.dirname(token), { recursive: true })
      fs.writeFileSync(token, "token")
      assert.deepStrictEqual(yield* findKubeConfig({ serviceAccountPrefix: dir }).pipe(env), {
        _tag: "InCluster",
        serviceAccountPrefix: dir
      })
    })
  )

  it.effect("a KUBECONFIG file that does not exist is invalid, naming the variable and its value", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const missing = path.join(dir, "nope")
      const error = yield* Effect.flip(loadKubeConfig.pipe(withEnv({ KUBECONFIG: missing })))
      assert.instanceOf(error, KubeConfigInvalid)
      assert.strictEqual(error.source, `KUBECONFIG=${missing}`)
      assert.include(error.message, "no such file")
    })
  )

  it.effect("plain HTTP without insecure-skip-tls-verify is refused before any request", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "config")
      fs.writeFileSync(
        file,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\n" +
          "users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n" +
          "current-context: x\n"
      )
      const config = yield* loadKubeConfig.pipe(withEnv({ KUBECONFIG: file }))
      const error = yield* Effect.flip(checkKubeConfig(config))
      assert.instanceOf(error, KubeConfigInvalid)
      assert.include(error.reason, "HTTP protocol is not allowed")
    })
  )
})

/** Moves the test clock in small steps until `done()`, giving real I/O time to happen in between. */
const advanceUntil = (done: () => boolean, step: Duration.Input = "100 millis", limitMs = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + limitMs
    while (!done()) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("condition not reached"))
      yield* TestClock.adjust(step)
      yield* realSleep(25)
    }
  })

describe("restart backoff on the test clock", () => {
  it.effect("the backoff doubles from its base up to its cap, each delay jittered by at most 20%", () =>
    Effect.gen(function* () {
      const step = yield* Schedule.toStep(backoffSchedule({ base: "1 second", cap: "30 seconds" }))
      for (let attempt = 0; attempt < 10; attempt++) {
        const [, delay] = yield* step(0, new Error("stopped"))
        const expected = Math.min(1000 * 2 ** attempt, 30_000)
        assert.isAtLeast(Duration.toMillis(delay), expected * 0.8)
        assert.isAtMost(Duration.toMillis(delay), expected * 1.2)
      }
    })
  )

  it.effect("initial lists failing with 500 are retried after growing delays, and only when the clock says so", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.put("pods", makePod({ name: "p1", model: "m1" }))
      fake.put("modeladapters", makeAdapter("lora", ["p1"]))
      fake.failNextLists("pods", 3)
      const fiber = yield* Effect.forkChild(startDiscovery(fake, { backoff: { base: "1 second", cap: "4 seconds" } }))

      yield* Effect.promise(() => fake.waitForLists("pods", 1))
      // Time stands still: no retry, however long we wait in real time.
      yield* realSleep(200)
      assert.strictEqual(fake.lists("pods"), 1)

      const listedAt: Array<number> = [yield* Clock.currentTimeMillis]
      for (let attempt = 2; attempt <= 4; attempt++) {
        yield* advanceUntil(() => fake.lists("pods") >= attempt)
        listedAt.push(yield* Clock.currentTimeMillis)
      }
      const { restarts, store } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(podKeysOf(store), ["default/p1"])
      assert.deepStrictEqual(yield* restarts, { pods: 3, modelAdapters: 0 })
      // Exponential from 1 s, capped at 4 s, each jittered by at most 20%.
      const gaps = listedAt.slice(1).map((at, i) => at - listedAt[i]!)
      assert.isAtLeast(gaps[0]!, 800)
      assert.isAtLeast(gaps[1]!, 1600)
      assert.isAtLeast(gaps[2]!, 3200)
      assert.isBelow(gaps[2]!, 6000)
    })
  )

  it.effect(
    "a watch the server accepted resets the backoff: quiet watches cut again and again restart after the base delay",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeKubernetes()
        fake.put("pods", makePod({ name: "p1", model: "m1" }))
        const fiber = yield* Effect.forkChild(
          startDiscovery(fake, { backoff: { base: "1 second", cap: "16 seconds" } })
        )
        yield* advanceUntil(() => fake.openWatches("pods") === 1)
        const { restarts } = yield* Fiber.join(fiber)
        const gaps: Array<number> = []
        for (let cut = 1; cut <= 4; cut++) {
          const watches = fake.watches("pods")
          fake.cutWatches("pods")
          const cutAt = yield* Clock.currentTimeMillis
          yield* advanceUntil(() => fake.watches("pods") > watches && fake.openWatches("pods") === 1)
          gaps.push((yield* Clock.currentTimeMillis) - cutAt)
        }
        assert.strictEqual((yield* restarts).pods, 4)
        // Doubling would make the fourth wait 8 s; each stays near the base of 1 s.
        assert.isTrue(
          gaps.every((gap) => gap >= 700 && gap <= 1_400),
          JSON.stringify(gaps)
        )
      })
  )

  it.effect("a resource that never lists fails the start with a timeout naming it and its last error", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.failNextLists("modeladapters", 1_000, 503)
      const fiber = yield* Effect.forkChild(
        Effect.flip(
          Effect.scoped(
            startDiscovery(fake, {
              syncTimeout: "60 seconds",
              backoff: { base: "1 second", cap: "5 seconds" }
            })
          )
        )
      )
      yield* advanceUntil(() => fiber.pollUnsafe() !== undefined, "1 second")
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, DiscoverySyncTimeout)
      assert.deepStrictEqual(
        error.unsynced.map((unsynced) => unsynced.resource),
        ["modeladapters"]
      )
      assert.include(error.unsynced[0]?.lastError ?? "", "HTTP 503")
      assert.include(error.message, "did not sync within 1m")
      // The failed start left nothing running.
      yield* eventually(() => assert.strictEqual(fake.openWatches(), 0))
      const lists = fake.lists("modeladapters")
      yield* TestClock.adjust("1 minute")
      yield* realSleep(100)
      assert.strictEqual(fake.lists("modeladapters"), lists)
    })
  )
})

describe("layer", () => {
  it.live("the layer fails with the sync timeout when the server never answers", () =>
    Effect.gen(function* () {
      const fake = yield* fakeKubernetes()
      fake.setListDelay("pods", 60_000)
      const error = yield* Effect.flip(Effect.scoped(startDiscovery(fake, { syncTimeout: "200 millis" })))
      assert.strictEqual(error._tag, "DiscoverySyncTimeout")
      yield* eventually(() => assert.strictEqual(fake.openRequests, 0))
    })
  )
})
