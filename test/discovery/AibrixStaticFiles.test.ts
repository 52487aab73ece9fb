/**
 * AIBrix's static discovery files, read as they are: the example files of its
 * standalone and local deployments (their `models:` as written there, without
 * the comment blocks above them), the cases of its provider's tests, and a
 * P/D fleet of simulated engines served by the live layer.
 */
import { assert, describe, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { ConfigProvider, Context, Effect, Exit, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { initStatic } from "../../layers/index.ts"
import { MetricCache } from "../../src/cache/MetricCache.ts"
import { PodCache } from "../../src/cache/PodCache.ts"
import { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { parseStaticFleet, STATIC_NAMESPACE, staticPods } from "../../src/discovery/StaticFleet.ts"
import { isReady, metricPortOf } from "../../src/store/Pod.ts"
import { eventually } from "../support/discovery.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

/** `deployment/standalone/configs/endpoints.yaml` */
const STANDALONE = `models:
  - name: "Qwen/Qwen2.5-1.5B-Instruct"
    endpoints:
      - "vllm:8000"
`

/** `deployment/standalone/configs/endpoints-pd.yaml` */
const STANDALONE_PD = `models:
  - name: "Qwen/Qwen2.5-1.5B-Instruct"
    rolesets:
      - name: default
        prefill:
          - "prefill-engine:8000"
        decode:
          - "decode-engine:8000"
`

/** `deployment/local/configs/endpoints.yaml` */
const LOCAL = `models:
  - name: "Qwen/Qwen3.5-4B"
    engine: "vllm"    # optional: vllm, sglang, trtllm
    endpoints:
      - "127.0.0.1:8000"
`

/** The P/D example of `pkg/cache/discovery/README.md`. */
const README_PD = `models:
  - name: "Qwen/Qwen2.5-72B"
    engine: vllm
    rolesets:
      - name: default
        prefill:
          - "prefill-0:8000"
          - "prefill-1:8000"
        decode:
          - "decode-0:8000"
`

const podsOf = (text: string): ReadonlyArray<V1Pod> => {
  const parsed = parseStaticFleet(text)
  if (Exit.isFailure(parsed)) assert.fail(JSON.stringify(parsed.cause))
  return Array.from(staticPods(parsed.value).values())
}

const problemsOf = (text: string): ReadonlyArray<string> => {
  const parsed = parseStaticFleet(text)
  return Exit.isSuccess(parsed)
    ? []
    : parsed.cause.reasons.flatMap((reason) => (reason._tag === "Fail" ? reason.error : []))
}

const label = (pod: V1Pod, name: string) => pod.metadata?.labels?.[name]

/** What a reader of a pod sees: model, engine, role, roleset, IP, port. */
const summary = (pod: V1Pod) => [
  label(pod, "model.aibrix.ai/name"),
  label(pod, "model.aibrix.ai/engine"),
  label(pod, "role-name"),
  label(pod, "roleset-name"),
  pod.status?.podIP,
  metricPortOf(pod)
]

describe("AIBrix static files", () => {
  it("the example files of AIBrix's deployments and README are read as they are", () => {
    assert.deepStrictEqual(podsOf(STANDALONE).map(summary), [
      ["Qwen/Qwen2.5-1.5B-Instruct", undefined, undefined, undefined, "vllm", 8000]
    ])
    assert.deepStrictEqual(podsOf(STANDALONE_PD).map(summary), [
      ["Qwen/Qwen2.5-1.5B-Instruct", undefined, "prefill", "default", "prefill-engine", 8000],
      ["Qwen/Qwen2.5-1.5B-Instruct", undefined, "decode", "default", "decode-engine", 8000]
    ])
    assert.deepStrictEqual(podsOf(LOCAL).map(summary), [
      ["Qwen/Qwen3.5-4B", "vllm", undefined, undefined, "127.0.0.1", 8000]
    ])
    assert.deepStrictEqual(podsOf(README_PD).map(summary), [
      ["Qwen/Qwen2.5-72B", "vllm", "prefill", "default", "prefill-0", 8000],
      ["Qwen/Qwen2.5-72B", "vllm", "prefill", "default", "prefill-1", 8000],
      ["Qwen/Qwen2.5-72B", "vllm", "decode", "default", "decode-0", 8000]
    ])
    for (const pod of [STANDALONE, STANDALONE_PD, LOCAL, README_PD].flatMap(podsOf)) {
      assert.strictEqual(pod.metadata?.namespace, STATIC_NAMESPACE)
      assert.strictEqual(pod.metadata?.namespace, "standalone")
      assert.strictEqual(label(pod, "model.aibrix.ai/port"), "8000")
      assert.isTrue(isReady(pod))
    }
  })

  it("several rolesets, each with its own name; the same endpoint in two rolesets is two pods", () => {
    const pods = podsOf(
      [
        "models:",
        '  - name: "Qwen/Qwen2.5-72B"',
        "    rolesets:",
        "      - name: group-a",
        '        prefill: ["prefill-0:8000"]',
        '        decode: ["decode-0:8000"]',
        "      - name: group-b",
        '        prefill: ["prefill-0:8000"]',
        '        decode: ["decode-1:8000"]',
        ""
      ].join("\n")
    )
    assert.deepStrictEqual(
      pods.map((pod) => [label(pod, "roleset-name"), label(pod, "role-name"), pod.status?.podIP]),
      [
        ["group-a", "prefill", "prefill-0"],
        ["group-a", "decode", "decode-0"],
        ["group-b", "prefill", "prefill-0"],
        ["group-b", "decode", "decode-1"]
      ]
    )
    assert.strictEqual(new Set(pods.map((pod) => pod.metadata?.name)).size, 4)
    assert.match(pods[0]!.metadata!.name!, /^qwen-qwen2-5-72b-group-a-prefill-prefill-0-8000-[0-9a-f]{6}$/)
  })

  it("a bare host is port 8000, and names the same pod as host:8000", () => {
    const [bare] = podsOf('models:\n  - name: "test-model"\n    endpoints:\n      - "vllm-host"\n')
    const [explicit] = podsOf('models:\n  - name: "test-model"\n    endpoints:\n      - "vllm-host:8000"\n')
    assert.strictEqual(metricPortOf(bare!), 8000)
    assert.strictEqual(label(bare!, "model.aibrix.ai/port"), "8000")
    assert.deepStrictEqual(bare, explicit)
  })

  it("refuses what AIBrix refuses: endpoints beside rolesets, a roleset without a name", () => {
    assert.deepStrictEqual(
      problemsOf(
        'models:\n  - name: "test-model"\n    endpoints:\n      - "vllm:8000"\n    rolesets:\n' +
          '      - name: default\n        prefill:\n          - "prefill:8000"\n        decode:\n          - "decode:8000"\n'
      ),
      [
        "line 2, models[0]: endpoints and rolesets are mutually exclusive: a model is served by plain endpoints or by prefill/decode rolesets"
      ]
    )
    assert.deepStrictEqual(
      problemsOf(
        'models:\n  - name: "test-model"\n    rolesets:\n      - name: ""\n        prefill: ["prefill:8000"]\n'
      ),
      ["line 4, models[0].rolesets[0].name: roleset name is required"]
    )
    assert.deepStrictEqual(problemsOf("models:\n  - name: m\n    rolesets:\n      - prefill: [p:1]\n"), [
      "line 4, models[0].rolesets[0].name: Missing key"
    ])
  })

  it("and what would make two pods one: an endpoint twice in a role, a roleset name twice", () => {
    assert.deepStrictEqual(
      problemsOf("models:\n  - name: m\n    rolesets:\n      - {name: a, decode: [d, d:8000]}\n"),
      ['line 4, models[0].rolesets[0].decode[1]: duplicate endpoint "d:8000"']
    )
    assert.deepStrictEqual(
      problemsOf(
        "models:\n  - name: m\n    rolesets:\n      - {name: a, decode: [d]}\n      - {name: a, decode: [e]}\n"
      ),
      ['line 5, models[0].rolesets[1].name: duplicate roleset "a"']
    )
  })

  it("empty lists and an empty engine are as if absent", () => {
    const pods = podsOf(
      "models:\n  - name: m\n    engine: ''\n    endpoints:\n    rolesets:\n      - name: a\n        decode: [d]\n"
    )
    assert.deepStrictEqual(pods.map(summary), [["m", undefined, "decode", "a", "d", 8000]])
  })
})

describe("an AIBrix file with engine, rolesets and a bare host, served by the live layer", () => {
  it.live(
    "pods of both roles serve the model with their engine, roles and scraped figures; the bare host on 8000",
    () =>
      Effect.gen(function* () {
        const model = "Qwen/Qwen2.5-72B"
        const prefill = yield* EngineSimulator.scoped({ models: [model] })
        const decode = yield* EngineSimulator.scoped({ models: [model] })
        prefill.metrics.setGauge(model, "num_requests_running", 2)
        decode.metrics.setGauge(model, "num_requests_running", 5)
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "aibrix-pd-"))),
          (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
        )
        const file = path.join(dir, "endpoints-pd.yaml")
        fs.writeFileSync(
          file,
          `models:\n  - name: "${model}"\n    engine: vllm\n    rolesets:\n      - name: default\n` +
            `        prefill:\n          - "${prefill.host}:${prefill.port}"\n` +
            `        decode:\n          - "${decode.host}:${decode.port}"\n` +
            '  - name: "org/bare"\n    engine: sglang\n    endpoints:\n      - "127.0.0.1"\n'
        )
        const config = ConfigProvider.layer(
          ConfigProvider.fromEnv({ env: { AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "50" } })
        )
        const live = yield* Layer.build(initStatic(file).pipe(Layer.provide(config)))

        const pods = (yield* PodCache.use((cache) => cache.listPodsByModel(model)).pipe(
          Effect.provideContext(live)
        )).all()
        assert.deepStrictEqual(
          pods.map((pod) => [
            label(pod, "role-name"),
            label(pod, "roleset-name"),
            label(pod, "model.aibrix.ai/engine")
          ]),
          [
            ["prefill", "default", "vllm"],
            ["decode", "default", "vllm"]
          ]
        )
        const [bare] = (yield* PodCache.use((cache) => cache.listPodsByModel("org/bare")).pipe(
          Effect.provideContext(live)
        )).all()
        assert.deepStrictEqual(
          [bare?.status?.podIP, metricPortOf(bare!), label(bare!, "model.aibrix.ai/engine")],
          ["127.0.0.1", 8000, "sglang"]
        )
        const metrics = Context.get(live, MetricCache)
        const running = (pod: V1Pod) =>
          metrics.getMetricValueByPodModel(pod.metadata!.name!, STATIC_NAMESPACE, model, "num_requests_running").pipe(
            Effect.map((value) => (value._tag === "Simple" ? value.value : undefined)),
            Effect.orElseSucceed(() => undefined)
          )
        yield* eventually(() =>
          assert.deepStrictEqual(
            pods.map((pod) => Effect.runSync(running(pod))),
            [2, 5]
          )
        )
      }).pipe(Effect.scoped, withFreshRegistry)
  )
})
