/** The static fleet file: parsing, errors that say where, and reloads that apply only differences. */
import { NodeFileSystem } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Layer, References } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layerEmpty, makeContext } from "../../src/cache/Cache.ts"
import { CacheReadiness } from "../../src/cache/CacheReadiness.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter } from "../../src/cache/CacheWriter.ts"
import type { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { StaticFleetInvalid } from "../../src/discovery/DiscoveryErrors.ts"
import { FleetStore } from "../../src/store/FleetStore.ts"
import { isReady, metricPortOf } from "../../src/store/Pod.ts"
import { parseEndpoint, parseStaticFleet, STATIC_NAMESPACE, staticPods } from "../../src/discovery/StaticFleet.ts"
import { staticDiscovery } from "../../layers/index.ts"
import { makeStaticSource } from "../../src/discovery/StaticSource.ts"
import { eventually, modelsOf } from "../support/discovery.ts"

const problemsOf = (text: string): ReadonlyArray<string> => {
  const parsed = parseStaticFleet(text)
  if (Exit.isSuccess(parsed)) return []
  return parsed.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? reason.error : []))
}

describe("static fleet file", () => {
  it("parses YAML into one ready pod per endpoint, labelled with its model and metric port", () => {
    const parsed = parseStaticFleet(
      'models:\n  - name: llama-3-8b\n    endpoints: ["10.0.0.7:8000", "gpu-box:8001"]\n' +
        '  - name: mistral\n    endpoints:\n      - "[fd00::1]:9000"\n'
    )
    assert.isTrue(Exit.isSuccess(parsed))
    if (!Exit.isSuccess(parsed)) return
    const pods = Array.from(staticPods(parsed.value).values())
    assert.deepStrictEqual(
      pods.map((pod) => pod.status?.podIP),
      ["10.0.0.7", "gpu-box", "fd00::1"]
    )
    assert.deepStrictEqual(pods.map(metricPortOf), [8000, 8001, 9000])
    assert.deepStrictEqual(
      pods.map((pod) => pod.metadata?.labels?.["model.aibrix.ai/name"]),
      ["llama-3-8b", "llama-3-8b", "mistral"]
    )
    assert.isTrue(pods.every(isReady))
    assert.isTrue(pods.every((pod) => pod.metadata?.namespace === STATIC_NAMESPACE))
  })

  it("parses JSON too, and derives the same names and UIDs every time", () => {
    const json = parseStaticFleet('{"models": [{"name": "m", "endpoints": ["10.0.0.1:8000"]}]}')
    const yaml = parseStaticFleet("models:\n  - name: m\n    endpoints: [10.0.0.1:8000]\n")
    assert.isTrue(Exit.isSuccess(json) && Exit.isSuccess(yaml))
    if (!Exit.isSuccess(json) || !Exit.isSuccess(yaml)) return
    assert.deepStrictEqual(staticPods(json.value), staticPods(yaml.value))
    const pod = Array.from(staticPods(json.value).values())[0]!
    assert.match(pod.metadata!.name!, /^m-10-0-0-1-8000-[0-9a-f]{6}$/)
    assert.match(pod.metadata!.uid!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
  })

  it("tells endpoints apart by model: the same endpoint under two models is two pods", () => {
    const parsed = parseStaticFleet("models:\n  - {name: a, endpoints: [h:1]}\n  - {name: b, endpoints: [h:1]}\n")
    assert.isTrue(Exit.isSuccess(parsed))
    if (Exit.isSuccess(parsed)) assert.strictEqual(staticPods(parsed.value).size, 2)
  })

  it("endpoints: host:port with a port in range, or a bare host meaning port 8000", () => {
    assert.deepStrictEqual(parseEndpoint("10.0.0.1:8000"), { host: "10.0.0.1", port: 8000 })
    assert.deepStrictEqual(parseEndpoint("[::1]:1"), { host: "::1", port: 1 })
    assert.deepStrictEqual(parseEndpoint("10.0.0.1"), { host: "10.0.0.1", port: 8000 })
    assert.deepStrictEqual(parseEndpoint("vllm-host"), { host: "vllm-host", port: 8000 })
    assert.deepStrictEqual(parseEndpoint("[fd00::1]"), { host: "fd00::1", port: 8000 })
    assert.deepStrictEqual(parseEndpoint("fd00::1"), { host: "fd00::1", port: 8000 })
    assert.isUndefined(parseEndpoint("host:0"))
    assert.isUndefined(parseEndpoint("host:"))
    assert.isUndefined(parseEndpoint(""))
    assert.isUndefined(parseEndpoint("host:65536"))
    assert.isUndefined(parseEndpoint("http://host:80"))
  })

  it("reports every problem with its line, its field and what was expected", () => {
    const problems = problemsOf(
      [
        "models:",
        "  - name: m1",
        "    endpoints:",
        "      - 10.0.0.1:8000",
        "      - nope:80:80",
        "  - name: ''",
        "    endpoint: []",
        ""
      ].join("\n")
    )
    assert.deepStrictEqual(problems, [
      'line 5, models[0].endpoints[1]: expected "host:port" with a port from 1 to 65535, or a bare host (port 8000), got "nope:80:80"',
      "line 7, models[1].endpoint: Expected no excess property",
      "line 6, models[1].name: Expected a value with a length of at least 1"
    ])
  })

  it("reports duplicates, syntax errors, wrong types and an empty file", () => {
    assert.deepStrictEqual(problemsOf("models:\n  - name: m\n    endpoints: [a:1, a:1]\n"), [
      'line 3, models[0].endpoints[1]: duplicate endpoint "a:1"'
    ])
    assert.deepStrictEqual(problemsOf("models:\n  - name: m\n    endpoints: [a, a:8000]\n"), [
      'line 3, models[0].endpoints[1]: duplicate endpoint "a:8000"'
    ])
    assert.deepStrictEqual(problemsOf("models:\n  - {name: m, endpoints: []}\n  - {name: m, endpoints: []}\n"), [
      'line 3, models[1].name: duplicate model "m"'
    ])
    assert.deepStrictEqual(problemsOf("models: 3\n"), ["line 1, models: Expected array"])
    assert.deepStrictEqual(problemsOf(""), ["the file is empty: expected `models: [...]`"])
    const [syntax] = problemsOf("models:\n  - name: m\n    endpoints: [\n")
    assert.match(syntax!, /^line 4, column 1: /)
  })
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "aibrix-static-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const fleetYaml = (models: Record<string, ReadonlyArray<string>>): string =>
  `models:\n${Object.entries(models)
    .map(([name, endpoints]) => `  - name: ${name}\n    endpoints: [${endpoints.join(", ")}]\n`)
    .join("")}`

/** A store whose writer records every event applied. */
const recordingCache = Effect.map(Clock.Clock, (clock) => {
  const store = new FleetStore()
  const context = makeContext(store, clock)
  const inner = Context.get(context, CacheWriter)
  const applied: Array<DiscoveryEvent> = []
  const writer = CacheWriter.of({
    apply: (event) =>
      Effect.suspend(() => {
        applied.push(event)
        return inner.apply(event)
      }),
    applyAll: (events) =>
      Effect.suspend(() => {
        const batch = Array.from(events)
        applied.push(...batch)
        return inner.applyAll(batch)
      })
  })
  return { store, applied, context: Context.add(context, CacheWriter, writer) }
})

const fast = { pollInterval: "10 millis", debounce: "20 millis" } as const

const startStatic = (file: string) =>
  Effect.gen(function* () {
    const cache = yield* recordingCache
    const readiness = yield* makeStaticSource(file, fast).pipe(
      Effect.provideContext(cache.context),
      Effect.provide(NodeFileSystem.layer)
    )
    return { ...cache, readiness }
  }).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))

const tags = (events: ReadonlyArray<DiscoveryEvent>) =>
  events.map((event) => `${event._tag} ${"pod" in event ? event.pod.status?.podIP : ""}`).sort()

describe("static source", () => {
  it.live("applies the file's pods at start and is ready", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, fleetYaml({ m1: ["10.0.0.1:8000", "10.0.0.2:8000"], m2: ["10.0.0.3:9000"] }))
      const { readiness, store } = yield* startStatic(file)
      assert.isTrue(yield* readiness.isReady)
      assert.deepStrictEqual(modelsOf(store), ["m1", "m2"])
      assert.strictEqual(store.podList("m1")?.len, 2)
    })
  )

  it.live("a bad file fails start-up with its path and the problems", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, "models:\n  - name: m1\n    endpoints: [10.0.0.1:0]\n")
      const error = yield* Effect.flip(startStatic(file))
      assert.instanceOf(error, StaticFleetInvalid)
      assert.strictEqual(error.path, file)
      assert.include(error.message, file)
      assert.include(error.message, 'line 3, models[0].endpoints[0]: expected "host:port"')
      const missing = yield* Effect.flip(startStatic(path.join(dir, "absent.yaml")))
      assert.strictEqual(missing.problems.length, 1)
      assert.match(missing.problems[0]!, /^cannot read the file: ENOENT: no such file or directory/)
      const directory = yield* Effect.flip(startStatic(dir))
      assert.match(directory.problems[0]!, /^cannot read the file: EISDIR/)
      const binary = path.join(dir, "fleet.bin")
      fs.writeFileSync(binary, Buffer.from([0x6d, 0x6f, 0xff, 0xfe, 0x00]))
      assert.deepStrictEqual((yield* Effect.flip(startStatic(binary))).problems, ["not a UTF-8 text file"])
    })
  )

  it.live("a change applies only the differences, and unchanged pods stay the very same objects", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, fleetYaml({ m1: ["10.0.0.1:8000", "10.0.0.2:8000"], m2: ["10.0.0.3:9000"] }))
      const { applied, store } = yield* startStatic(file)
      const kept = store
        .podList("m1")!
        .all()
        .find((pod) => pod.status?.podIP === "10.0.0.1")
      applied.length = 0

      fs.writeFileSync(file, fleetYaml({ m1: ["10.0.0.1:8000", "10.0.0.4:8000"], m3: ["10.0.0.3:9000"] }))
      yield* eventually(() => assert.deepStrictEqual(modelsOf(store), ["m1", "m3"]))
      yield* eventually(() =>
        assert.deepStrictEqual(tags(applied), [
          "PodAdded 10.0.0.3",
          "PodAdded 10.0.0.4",
          "PodDeleted 10.0.0.2",
          "PodDeleted 10.0.0.3"
        ])
      )
      assert.strictEqual(
        store
          .podList("m1")!
          .all()
          .find((pod) => pod.status?.podIP === "10.0.0.1"),
        kept
      )
    })
  )

  it.live("a changed engine updates the same pod in place", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, "models:\n  - {name: m1, engine: vllm, endpoints: [10.0.0.1]}\n")
      const { applied, store } = yield* startStatic(file)
      const [before] = store.podList("m1")!.all()
      applied.length = 0
      fs.writeFileSync(file, "models:\n  - {name: m1, engine: sglang, endpoints: [10.0.0.1]}\n")
      yield* eventually(() =>
        assert.deepStrictEqual(
          applied.map((event) => event._tag),
          ["PodUpdated"]
        )
      )
      const [after] = store.podList("m1")!.all()
      assert.strictEqual(after?.metadata?.name, before?.metadata?.name)
      assert.strictEqual(after?.metadata?.labels?.["model.aibrix.ai/engine"], "sglang")
    })
  )

  it.live("an editor that replaces the file (write elsewhere, rename over it) is followed", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, fleetYaml({ m1: ["10.0.0.1:8000"] }))
      const { store } = yield* startStatic(file)
      for (const model of ["m2", "m3"]) {
        const swap = path.join(dir, `.fleet.yaml.${model}`)
        fs.writeFileSync(swap, fleetYaml({ [model]: ["10.0.0.1:8000"] }))
        fs.renameSync(swap, file)
        yield* eventually(() => assert.deepStrictEqual(modelsOf(store), [model]))
      }
    })
  )

  it.live("a file missing or invalid for a while keeps the fleet, then the fixed file applies", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.yaml")
      fs.writeFileSync(file, fleetYaml({ m1: ["10.0.0.1:8000"] }))
      const { applied, store } = yield* startStatic(file)
      applied.length = 0
      fs.rmSync(file)
      fs.writeFileSync(path.join(dir, "other"), "x")
      fs.writeFileSync(file, "models: [\n")
      // Give the source a few polls with the broken file: nothing changes.
      yield* Effect.sleep("150 millis")
      assert.deepStrictEqual(applied, [])
      assert.deepStrictEqual(modelsOf(store), ["m1"])
      fs.writeFileSync(file, fleetYaml({ m2: ["10.0.0.1:8000"] }))
      yield* eventually(() => assert.deepStrictEqual(modelsOf(store), ["m2"]))
    })
  )

  it.live("the layer provides readiness over a cache layer's writer", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "fleet.json")
      fs.writeFileSync(file, JSON.stringify({ models: [{ name: "m1", endpoints: ["10.0.0.1:8000"] }] }))
      const context = yield* Layer.build(staticDiscovery(file).pipe(Layer.provideMerge(layerEmpty)))
      assert.isTrue(yield* Context.get(context, CacheReadiness).isReady)
      assert.deepStrictEqual(modelsOf(Context.get(context, CacheStore)), ["m1"])
    })
  )
})
