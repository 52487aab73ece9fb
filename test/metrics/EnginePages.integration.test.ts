/**
 * Real pages of every engine (`test/fixtures/pages`), served over HTTP on
 * loopback to pods labelled with their engine, read through the refresh with
 * the real HTTP client: the canonical names answer with the page's values.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { newTestCacheWithPods, withMetricRefresh } from "../../layers/index.ts"
import { MetricCache, MetricValue } from "../../src/index.ts"
import type { MetricValue as Value } from "../../src/store/MetricValue.ts"
import { type Engine, engineProfiles } from "../../src/metrics/MetricCatalogue.ts"
import type { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import { defaultScrapeOptions } from "../../src/metrics/MetricRefreshConfig.ts"
import { ENGINE_LABEL, METRIC_PORT_LABEL } from "../../src/store/Pod.ts"
import {
  type EnginePageFixture,
  SGLANG_2024,
  SGLANG_2025,
  TRTLLM,
  VLLM_V0,
  VLLM_V1,
  withoutFamily,
  XLLM
} from "../support/enginePages.ts"
import { makePod } from "../support/fixtures.ts"
import { statistics, until } from "../support/refreshStatistics.ts"
import { PageServer } from "../support/pageServer.ts"

const BASE_MODEL = "pod-base-model"

/** A server of the page at its engine's path (or at `path`), for the test's scope. */
const served = (text: string, path: string) =>
  Effect.acquireRelease(
    Effect.promise(() => PageServer.start(path, text)),
    (server) => Effect.promise(() => server.stop())
  )

interface Case {
  readonly name: string
  readonly text: string
  /** The engine label; undefined for a pod without one. */
  readonly engine: Engine | undefined
  /** Where the engine serves the page. */
  readonly path: string
}

const caseOf = (fixture: EnginePageFixture, text = fixture.text): Case => ({
  name: fixture.file,
  text,
  engine: fixture.engine,
  path: engineProfiles[fixture.engine].metricsPath
})

/** Reads every canonical value the check asks for, once each pod's page was read. */
const reading = (
  cases: ReadonlyArray<Case>,
  check: (read: Reader) => Effect.Effect<void, unknown, MetricCache | MetricRefresh>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const servers = yield* Effect.forEach(cases, (one) => served(one.text, one.path))
      const pods = cases.map((one, i) =>
        makePod({
          name: one.name.replace(/[^a-z0-9]+/g, "-"),
          ip: "127.0.0.1",
          labels: {
            [METRIC_PORT_LABEL]: String(servers[i]!.port),
            ...(one.engine === undefined ? {} : { [ENGINE_LABEL]: one.engine })
          }
        })
      )
      yield* Effect.gen(function* () {
        yield* until((s) => s.engine.pods.length === cases.length && s.engine.pods.every((pod) => pod.outcomes.ok >= 1))
        const metrics = yield* MetricCache
        yield* check({
          value: (pod, model, metric) =>
            metrics.getMetricValueByPodModel(pod.replace(/[^a-z0-9]+/g, "-"), "default", model, metric)
        })
      }).pipe(
        Effect.provide(
          withMetricRefresh(newTestCacheWithPods(pods, BASE_MODEL), {
            scrape: defaultScrapeOptions,
            promql: undefined
          })
        )
      )
    })
  )

interface Reader {
  value(pod: string, model: string, metric: string): Effect.Effect<Value, unknown>
}

const simple = (value: number) => MetricValue.simple(value)

const histogramOf = (read: Value): { readonly count: number; readonly sum: number } => {
  assert.isTrue(MetricValue.isHistogram(read))
  return MetricValue.isHistogram(read) ? { count: read.count, sum: read.sum } : { count: -1, sum: -1 }
}

describe("real engine pages over HTTP, by the pod's engine label", () => {
  it.live(
    "vLLM V1 and V0: running, waiting, KV-cache usage by either name, time to first token",
    () => {
      const model = "Qwen/Qwen3-4B-Instruct-2507-FP8"
      const usage = 0.0011764705882353343
      const onlyKv = caseOf(VLLM_V1, withoutFamily(VLLM_V1.text, "vllm:gpu_cache_usage_perc"))
      const onlyGpu = caseOf(VLLM_V1, withoutFamily(VLLM_V1.text, "vllm:kv_cache_usage_perc"))
      const cases = [
        caseOf(VLLM_V1),
        { ...onlyKv, name: "vllm-v1-kv-only" },
        { ...onlyGpu, name: "vllm-v1-gpu-only" },
        caseOf(VLLM_V0)
      ]
      return reading(cases, (read) =>
        Effect.gen(function* () {
          for (const pod of ["vllm-v1.txt", "vllm-v1-kv-only", "vllm-v1-gpu-only"]) {
            assert.deepStrictEqual(yield* read.value(pod, model, "num_requests_running"), simple(0))
            assert.deepStrictEqual(yield* read.value(pod, model, "num_requests_waiting"), simple(0))
            assert.deepStrictEqual(yield* read.value(pod, model, "kv_cache_usage_perc"), simple(usage), pod)
            assert.deepStrictEqual(yield* read.value(pod, model, "gpu_cache_usage_perc"), simple(usage), pod)
            const ttft = histogramOf(yield* read.value(pod, model, "time_to_first_token_seconds"))
            assert.deepStrictEqual(ttft, { count: 6, sum: 0.24629998207092285 })
          }
          const v0 = "Qwen/Qwen2.5-Coder-1.5B-Instruct"
          assert.deepStrictEqual(yield* read.value("vllm-v0.txt", v0, "gpu_cache_usage_perc"), simple(0))
          assert.deepStrictEqual(yield* read.value("vllm-v0.txt", v0, "kv_cache_usage_perc"), simple(0))
          assert.deepStrictEqual(yield* read.value("vllm-v0.txt", v0, "num_requests_running"), simple(0))
          assert.deepStrictEqual(yield* read.value("vllm-v0.txt", v0, "prompt_tokens_total"), simple(148))
          const cut = yield* Effect.flip(read.value("vllm-v0.txt", v0, "iteration_tokens_total"))
          assert.strictEqual(
            (cut as { _tag: string })._tag,
            "MetricNotFound",
            "a histogram cut by the excerpt gives nothing"
          )
        })
      )
    },
    60_000
  )

  it.live(
    "SGLang, 2024 and current names: running, waiting, KV-cache usage (token usage), time to first token",
    () =>
      reading([caseOf(SGLANG_2024), caseOf(SGLANG_2025)], (read) =>
        Effect.gen(function* () {
          const old = ["sglang-2024.txt", "google/gemma-2-9b-it"] as const
          assert.deepStrictEqual(yield* read.value(...old, "num_requests_running"), simple(0))
          assert.deepStrictEqual(yield* read.value(...old, "num_requests_waiting"), simple(0))
          assert.deepStrictEqual(yield* read.value(...old, "kv_cache_usage_perc"), simple(0.01))
          const oldTtft = histogramOf(yield* read.value(...old, "time_to_first_token_seconds"))
          assert.deepStrictEqual(oldTtft, { count: 2124, sum: 656.0780844688416 })
          const now = ["sglang-2025.txt", "meta-llama/Llama-3.1-8B-Instruct"] as const
          assert.deepStrictEqual(yield* read.value(...now, "num_requests_running"), simple(162))
          assert.deepStrictEqual(yield* read.value(...now, "num_requests_waiting"), simple(2826))
          assert.deepStrictEqual(yield* read.value(...now, "kv_cache_usage_perc"), simple(0.28))
          assert.deepStrictEqual(yield* read.value(...now, "gpu_cache_usage_perc"), simple(0.28))
          const ttft = histogramOf(yield* read.value(...now, "time_to_first_token_seconds"))
          assert.deepStrictEqual(ttft, { count: 11008, sum: 2.3518979474117756e6 })
        })
      ),
    60_000
  )

  it.live(
    "trtllm-serve at /prometheus/metrics and xLLM: KV-cache usage, time to first token, engine utilization",
    () =>
      reading([caseOf(TRTLLM), caseOf(XLLM)], (read) =>
        Effect.gen(function* () {
          const trtllm = ["trtllm.txt", "nemotron-nano-3"] as const
          assert.deepStrictEqual(yield* read.value(...trtllm, "kv_cache_usage_perc"), simple(0.4140625))
          const ttft = histogramOf(yield* read.value(...trtllm, "time_to_first_token_seconds"))
          assert.strictEqual(ttft.count, 12)
          assert.deepStrictEqual(yield* read.value(...trtllm, "num_requests_running"), simple(5))
          // xLLM's page names no model: its values belong to the pod's.
          assert.deepStrictEqual(yield* read.value("xllm.txt", BASE_MODEL, "kv_cache_usage_perc"), simple(0.4375))
          assert.deepStrictEqual(yield* read.value("xllm.txt", BASE_MODEL, "engine_utilization"), simple(0.625))
          assert.deepStrictEqual(yield* read.value("xllm.txt", BASE_MODEL, "num_requests_running"), simple(7))
        })
      ),
    60_000
  )

  it.live(
    "a pod without an engine label: an SGLang page is read as SGLang's, a trtllm-serve page is found at its path",
    () =>
      reading(
        [
          { ...caseOf(SGLANG_2025), engine: undefined },
          { ...caseOf(TRTLLM), engine: undefined }
        ],
        (read) =>
          Effect.gen(function* () {
            const sglang = ["sglang-2025.txt", "meta-llama/Llama-3.1-8B-Instruct"] as const
            assert.deepStrictEqual(yield* read.value(...sglang, "num_requests_running"), simple(162))
            assert.deepStrictEqual(
              yield* read.value("trtllm.txt", "nemotron-nano-3", "kv_cache_usage_perc"),
              simple(0.4140625)
            )
            const pods = (yield* statistics).engine.pods
            assert.deepStrictEqual(
              pods.map((pod) => [pod.key, pod.engine, pod.url.endsWith("/prometheus/metrics")]).sort(),
              [
                ["default/sglang-2025-txt", "sglang", false],
                ["default/trtllm-txt", "trtllm", true]
              ]
            )
          })
      ),
    60_000
  )
})
