/**
 * The service as a user runs it: a child process (`node src/main.ts`), its
 * HTTP API, its log lines, and its stop on SIGTERM.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse } from "../../src/exposition/Parser.ts"
import { ModelList, ModelPods, PodDetail } from "../../src/service/ServiceApi.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { eventually, fakeKubernetes } from "../support/discovery.ts"
import { freePort } from "../support/redisServer.ts"
import { failedStart, get, poll, serviceProcess } from "../support/serviceProcess.ts"

const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, text: string): S["Type"] =>
  Schema.decodeUnknownSync(schema)(JSON.parse(text))

/** The engine figures of a pod, as one comparable string. */
const engineFigures = (pod: PodDetail): string => JSON.stringify(pod.model_metrics)

describe("the service", () => {
  it.live(
    "serves the built-in demo when nothing is configured, and stops on SIGTERM with exit 0",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const service = yield* serviceProcess(port, [])
        const first = yield* service.waitForLine((line) => line.length > 0)
        assert.include(first, "demo", "the first log line says it serves the demo")
        yield* poll(
          "/readyz 200",
          Effect.map(get(`${service.url}/readyz`), (r) => (r?.status === 200 ? true : undefined))
        )

        const models = decode(ModelList, (yield* get(`${service.url}/v1/models`))!.text)
        const ids = new Map(models.data.map((model) => [model.id, model]))
        assert.deepStrictEqual([...ids.keys()].sort(), ["llama-3-8b", "llama-3-8b-sql-lora", "qwen-2.5-7b"])
        assert.strictEqual(ids.get("llama-3-8b-sql-lora")?.parent, "llama-3-8b")
        assert.strictEqual(ids.get("llama-3-8b")?.pods, 2)

        // The refresh scrapes the simulated engines: their figures appear...
        const pods = yield* poll(
          "the demo pods' metrics",
          Effect.map(get(`${service.url}/v1/models/llama-3-8b/pods`), (r) => {
            if (r?.status !== 200) return undefined
            const pods = decode(ModelPods, r.text)
            return pods.pods.every((pod) => pod.metrics.num_requests_running !== null) ? pods : undefined
          })
        )
        assert.strictEqual(pods.pods.length, 2)
        for (const pod of pods.pods) {
          assert.isTrue(pod.ready)
          assert.isNotNull(pod.metrics.gpu_cache_usage_perc)
        }
        // ...and move.
        const podUrl = `${service.url}/v1/pods/${pods.pods[0]!.namespace}/${pods.pods[0]!.name}`
        const before = decode(PodDetail, (yield* get(podUrl))!.text)
        assert.isDefined(before.model_metrics["llama-3-8b"]?.["time_to_first_token_seconds"])
        yield* poll(
          "the demo's figures to move",
          Effect.map(get(podUrl), (r) => {
            if (r?.status !== 200) return undefined
            return engineFigures(decode(PodDetail, r.text)) !== engineFigures(before) ? true : undefined
          }),
          15_000
        )

        const metrics = (yield* get(`${service.url}/metrics`))!
        assert.strictEqual(metrics.status, 200)
        const page = parse(metrics.text)
        assert.isTrue(Result.isSuccess(page), metrics.text)
        const families = Result.getOrThrow(page).families
        assert.strictEqual(
          families.get("aibrix_cache_pods")?.samples.find((s) => s.labels["ready"] === "true")?.value,
          3
        )
        assert.isAbove(
          families.get("aibrix_cache_scrapes_total")?.samples.find((s) => s.labels["outcome"] === "ok")?.value ?? 0,
          0
        )
        assert.isAbove(families.get("aibrix_cache_value_age_seconds")?.samples.length ?? 0, 0)
        const scrapeCount = families
          .get("aibrix_cache_scrape_duration_seconds")
          ?.samples.find((s) => s.name.endsWith("_count"))
        assert.isAbove(scrapeCount?.value ?? 0, 0, "every scrape's duration is counted")

        const { code, ms } = yield* service.stop("SIGTERM")
        assert.strictEqual(code, 0, service.stderr())
        assert.isBelow(ms, 10_000)
        assert.isTrue(service.lines.some((line) => line.includes("message=stopped")))
        assert.strictEqual(service.stderr(), "")
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "logs one JSON object per line with --log-format json; SIGINT stops it with exit 0 too",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const service = yield* serviceProcess(port, ["--log-format", "json", "--demo"])
        yield* service.waitForLine((line) => line.includes("synced"))
        const { code } = yield* service.stop("SIGINT")
        assert.strictEqual(code, 0)
        const lines = service.lines.filter((line) => line.length > 0)
        const messages = lines.map((line) => (JSON.parse(line) as { readonly message: unknown }).message)
        assert.includeMembers(messages, ["starting", "listening", "synced", "stopping", "stopped"])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "listens where AIBRIX_HOST and AIBRIX_PORT say; --port wins over AIBRIX_PORT",
    () =>
      Effect.gen(function* () {
        const fromEnv = yield* Effect.promise(freePort)
        const byEnv = yield* serviceProcess(fromEnv, ["--demo"], {
          AIBRIX_HOST: "127.0.0.1",
          AIBRIX_PORT: String(fromEnv)
        })
        assert.include(
          yield* byEnv.waitForLine((line) => line.includes("message=listening")),
          `url=http://127.0.0.1:${fromEnv}`
        )
        assert.strictEqual((yield* get(`${byEnv.url}/healthz`))?.status, 200)
        assert.strictEqual((yield* byEnv.stop("SIGTERM")).code, 0)

        const fromFlag = yield* Effect.promise(freePort)
        const byFlag = yield* serviceProcess(fromFlag, ["--demo"], { AIBRIX_PORT: String(fromEnv) })
        assert.include(
          yield* byFlag.waitForLine((line) => line.includes("message=listening")),
          `url=http://127.0.0.1:${fromFlag}`
        )
        assert.strictEqual((yield* get(`${byFlag.url}/healthz`))?.status, 200)
        assert.strictEqual((yield* byFlag.stop("SIGTERM")).code, 0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a bad setting fails at start naming the variable and the value",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const last = yield* failedStart(
          yield* serviceProcess(port, [], { AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "perhaps" })
        )
        assert.include(last, "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG")
        assert.include(last, "perhaps")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "with a cluster: /readyz says 503 until the informers have listed, then 200; restarts show in /metrics",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeKubernetes()
        fake.put("pods", makePod({ name: "engine-0", model: "llama", ip: "127.0.0.1" }))
        fake.put("modeladapters", makeAdapter("llama-sql", ["engine-0"]))
        fake.setListDelay("pods", 5_000)
        fake.failNextLists("modeladapters", 1)
        const kubeConfig = yield* Effect.acquireRelease(
          Effect.sync(() => {
            const dir = mkdtempSync(join(tmpdir(), "aibrix-kube-"))
            writeFileSync(join(dir, "config"), fake.kubeConfigYaml())
            return dir
          }),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const service = yield* serviceProcess(yield* Effect.promise(freePort), [], {
          KUBECONFIG: join(kubeConfig, "config")
        })
        assert.include(yield* service.waitForLine((line) => line.length > 0), "Kubernetes")
        const early = yield* poll("/readyz to answer", get(`${service.url}/readyz`))
        assert.strictEqual(early.status, 503)
        assert.strictEqual((yield* get(`${service.url}/healthz`))?.status, 200)
        // Before the sync every family is on the page, the failed list already counted.
        const unsynced = yield* poll(
          "the restart in /metrics before the sync",
          Effect.map(get(`${service.url}/metrics`), (r) => {
            const families = r === undefined ? undefined : Result.getOrUndefined(parse(r.text))?.families
            const restarts = families?.get("aibrix_cache_informer_restarts_total")?.samples
            return (restarts?.find((s) => s.labels["informer"] === "modeladapters")?.value ?? 0) >= 1
              ? families
              : undefined
          })
        )
        assert.strictEqual((yield* get(`${service.url}/readyz`))?.status, 503, "the pods are still listing")
        assert.strictEqual(unsynced.get("aibrix_cache_ready")?.samples[0]?.value, 0)
        for (const name of [
          "aibrix_cache_pods",
          "aibrix_cache_models",
          "aibrix_cache_adapters",
          "aibrix_cache_requests_in_flight",
          "aibrix_cache_value_age_seconds",
          "aibrix_cache_oldest_value_age_seconds",
          "aibrix_cache_scrape_duration_seconds",
          "aibrix_cache_scrapes_total",
          "aibrix_cache_stale_pods",
          "aibrix_cache_dropped_pods"
        ]) {
          assert.isAbove(unsynced.get(name)?.samples.length ?? 0, 0, name)
        }
        assert.strictEqual(
          unsynced.get("aibrix_cache_informer_restarts_total")?.samples.find((s) => s.labels["informer"] === "pods")
            ?.value,
          0
        )
        yield* poll(
          "/readyz 200",
          Effect.map(get(`${service.url}/readyz`), (r) => (r?.status === 200 ? true : undefined))
        )
        const models = decode(ModelList, (yield* get(`${service.url}/v1/models`))!.text)
        assert.deepStrictEqual(models.data.map((model) => model.id).sort(), ["llama", "llama-sql"])
        assert.isTrue(service.lines.some((line) => line.includes("message=synced") && line.includes("pods=1")))
        const page = Result.getOrThrow(parse((yield* get(`${service.url}/metrics`))!.text))
        const restarts = page.families.get("aibrix_cache_informer_restarts_total")?.samples
        assert.isAtLeast(restarts?.find((s) => s.labels["informer"] === "modeladapters")?.value ?? 0, 1)
        const { code } = yield* service.stop("SIGTERM")
        assert.strictEqual(code, 0, service.stderr())
        yield* eventually(() => assert.strictEqual(fake.openWatches(), 0), 5_000)
      }).pipe(Effect.scoped),
    90_000
  )

  it("the aibrix-cache command prints its help", () => {
    const help = execFileSync(join("node_modules", ".bin", "node"), [join("bin", "aibrix-cache.js"), "--help"], {
      encoding: "utf8"
    })
    for (const flag of ["--host", "--port", "--static", "--demo", "--log-format", "--log-level"])
      assert.include(help, flag)
  })
})
