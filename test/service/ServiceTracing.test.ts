/**
 * OpenTelemetry traces: the settings read from the standard variables, the
 * tracer's layer (nothing at all when off), and the service as a process
 * exporting its spans to an OTLP/HTTP receiver the test runs.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Result, Tracer } from "effect"
import { EngineBehavior } from "../../src/demo/EngineSimulator.ts"
import { DEFAULT_REQUEST_RATIO } from "../../src/service/TraceSampling.ts"
import {
  DEFAULT_SERVICE_NAME,
  layerTracing,
  type TracingSettings,
  tracingConfig
} from "../../src/service/ServiceTracing.ts"
import { liveService } from "../support/liveService.ts"
import { type OtlpReceiver, otlpReceiver, type ReceivedSpan } from "../support/otlpReceiver.ts"
import { get, poll } from "../support/serviceProcess.ts"

const withEnv = (env: Record<string, string>) => ConfigProvider.layer(ConfigProvider.fromUnknown(env))

const settingsOf = (env: Record<string, string>) =>
  Effect.result(
    Effect.provide(
      Effect.gen(function* () {
        return yield* tracingConfig
      }),
      withEnv(env)
    )
  )

const settings = (env: Record<string, string>): Effect.Effect<TracingSettings | undefined> =>
  Effect.map(settingsOf(env), Result.getOrThrow)

const spanNames = (receiver: OtlpReceiver): ReadonlyArray<string> => receiver.spans.map((span) => span.name)

describe("the tracing settings", () => {
  it.effect("are off unless an OTLP endpoint is set", () =>
    Effect.gen(function* () {
      assert.isUndefined(yield* settings({}))
      assert.isUndefined(yield* settings({ OTEL_SERVICE_NAME: "x", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }))
    })
  )

  it.effect("send to /v1/traces below the base endpoint, or to the traces endpoint as given; protobuf by default", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* settings({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), {
        url: "http://collector:4318/v1/traces",
        protocol: "http/protobuf",
        sampling: { sampler: "default", ratio: DEFAULT_REQUEST_RATIO }
      })
      assert.deepStrictEqual(
        yield* settings({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/otlp/",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json"
        }),
        {
          url: "http://collector:4318/otlp/v1/traces",
          protocol: "http/json",
          sampling: { sampler: "default", ratio: DEFAULT_REQUEST_RATIO }
        }
      )
      assert.deepStrictEqual(
        yield* settings({
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://traces.example:443/in",
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf"
        }),
        {
          url: "https://traces.example/in",
          protocol: "http/protobuf",
          sampling: { sampler: "default", ratio: DEFAULT_REQUEST_RATIO }
        }
      )
    })
  )

  it.effect("are off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }
      assert.isUndefined(yield* settings({ ...endpoint, OTEL_SDK_DISABLED: "true" }))
      assert.isUndefined(yield* settings({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }))
      assert.isDefined(yield* settings({ ...endpoint, OTEL_TRACES_EXPORTER: "otlp" }))
    })
  )

  it.effect("take OTEL_TRACES_SAMPLER and its ratio; the standard ratio samplers default to 1", () =>
    Effect.gen(function* () {
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }
      const samplingOf = (env: Record<string, string>) =>
        Effect.map(settings({ ...endpoint, ...env }), (found) => found?.sampling)
      assert.deepStrictEqual(yield* samplingOf({ OTEL_TRACES_SAMPLER_ARG: "0.25" }), {
        sampler: "default",
        ratio: 0.25
      })
      assert.deepStrictEqual(yield* samplingOf({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio" }), {
        sampler: "parentbased_traceidratio",
        ratio: 1
      })
      assert.deepStrictEqual(yield* samplingOf({ OTEL_TRACES_SAMPLER: "always_on", OTEL_TRACES_SAMPLER_ARG: "0" }), {
        sampler: "always_on",
        ratio: 0
      })
    })
  )

  it.effect("fail on a bad value, naming the variable and the value", () =>
    Effect.gen(function* () {
      const bad: ReadonlyArray<readonly [string, string]> = [
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"],
        ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
        ["OTEL_TRACES_EXPORTER", "zipkin"],
        ["OTEL_TRACES_SAMPLER", "jaeger_remote"],
        ["OTEL_TRACES_SAMPLER_ARG", "1.5"]
      ]
      for (const [variable, value] of bad) {
        const result = yield* settingsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", [variable]: value })
        assert.isTrue(Result.isFailure(result), variable)
        const message = Result.isFailure(result) ? result.failure.message : ""
        assert.include(message, variable)
        assert.include(message, value)
      }
    })
  )
})

/** Runs `body` under the tracing layer the env's settings make, then closes it (the exporter's last flush). */
const traced = <A>(env: Record<string, string>, body: Effect.Effect<A>) =>
  Effect.gen(function* () {
    const tracing = yield* tracingConfig
    return yield* body.pipe(Effect.provide(layerTracing(tracing)))
  }).pipe(Effect.provide(withEnv(env)))

describe("the tracing layer", () => {
  it.live("with traces off: no tracer but Effect's native one, and nothing sent", () =>
    Effect.gen(function* () {
      const receiver = yield* otlpReceiver
      for (const env of [
        {},
        { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_SDK_DISABLED: "true" },
        { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_EXPORTER: "none" }
      ]) {
        const tracer = yield* traced(env, Effect.tracer.pipe(Effect.withSpan("a span")))
        assert.strictEqual(tracer, Tracer.nativeTracer, JSON.stringify(env))
      }
      assert.deepStrictEqual(receiver.requests, [])
    }).pipe(Effect.scoped)
  )

  it.live(
    "with an endpoint: spans go to it, with OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, in either protocol",
    () =>
      Effect.gen(function* () {
        const receiver = yield* otlpReceiver
        const work = Effect.void.pipe(
          Effect.withSpan("child"),
          Effect.withSpan("parent", { attributes: { "aibrix.test": "yes" } })
        )
        yield* traced(
          {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_SERVICE_NAME: "cache-a",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=test"
          },
          work
        )
        yield* traced(
          { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" },
          work
        )
        assert.deepStrictEqual(
          receiver.requests.map((request) => [request.path, request.contentType]),
          [
            ["/v1/traces", "application/x-protobuf"],
            ["/v1/traces", "application/json"]
          ]
        )
        const [protobuf, json] = [receiver.spans.slice(0, 2), receiver.spans.slice(2)]
        for (const spans of [protobuf, json]) {
          const parent = spans.find((span) => span.name === "parent")
          const child = spans.find((span) => span.name === "child")
          assert.strictEqual(parent?.attributes["aibrix.test"], "yes")
          assert.strictEqual(child?.parentSpanId, parent?.spanId)
          assert.strictEqual(child?.traceId, parent?.traceId)
        }
        assert.strictEqual(protobuf[0]?.resource["service.name"], "cache-a")
        assert.strictEqual(protobuf[0]?.resource["deployment.environment"], "test")
        assert.strictEqual(json[0]?.resource["service.name"], DEFAULT_SERVICE_NAME)
      }).pipe(Effect.scoped)
  )
})

/** The trace the test's requests come in, as from a gateway. */
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"

const isHttp = (span: ReceivedSpan, route: string): boolean =>
  span.kind === 2 && span.attributes["http.route"] === route && span.traceId === TRACE_ID

describe("the service with OTEL_EXPORTER_OTLP_ENDPOINT", () => {
  it.live(
    "exports spans of HTTP requests (not probes or /metrics), failed scrapes, PromQL, trace flushes and informer restarts within 20 s",
    () =>
      Effect.gen(function* () {
        const receiver = yield* otlpReceiver
        const { service, engine } = yield* liveService({
          failedAdapterLists: 1,
          env: {
            AIBRIX_PROMQL_REFRESH_INTERVAL_MS: "500",
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
            OTEL_SERVICE_NAME: "aibrix-cache-under-test",
            OTEL_BSP_SCHEDULE_DELAY: "1000",
            OTEL_TRACES_SAMPLER_ARG: "0"
          }
        })
        // An engine that answers 500: every scrape fails.
        engine.behave(EngineBehavior.fail(500))
        const starting = yield* service.waitForLine((line) => line.includes("message=starting"))
        assert.include(starting, receiver.endpoint)
        // The service's start: its first log line (loading the sources before it is not the service's doing).
        const started = Date.parse(/timestamp=(\S+)/.exec(starting)?.[1] ?? "")
        assert.isFalse(Number.isNaN(started))
        yield* poll(
          "/readyz 200",
          Effect.map(get(`${service.url}/readyz`), (r) => (r?.status === 200 ? true : undefined))
        )
        // As a gateway would call it: in a sampled trace of its own, which the request's span joins;
        // but never a probe or /metrics.
        const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`
        const request = (path: string, headers: Record<string, string>) =>
          Effect.promise(() => fetch(`${service.url}${path}`, { headers }).then((response) => response.status))
        for (const path of ["/healthz", "/readyz", "/metrics", "/metrics?x=1", "/page/feed"])
          assert.strictEqual(yield* request(path, { traceparent }), 200)
        // Outside any trace: sampled at OTEL_TRACES_SAMPLER_ARG, 0 here.
        assert.strictEqual(yield* request("/v1/pods/default/engine-0", {}), 200)
        assert.strictEqual(yield* request("/v1/models", { traceparent }), 200)
        assert.strictEqual(yield* request("/v1/models/nope/pods", { traceparent }), 404)

        const wanted: ReadonlyArray<readonly [string, (span: ReceivedSpan) => boolean]> = [
          ["GET /v1/models", (span) => isHttp(span, "/v1/models")],
          ["GET /v1/models/:model/pods", (span) => isHttp(span, "/v1/models/:model/pods")],
          ["a failed scrape", (span) => span.name === "engine scrape failed" && span.statusCode === 2],
          ["a PromQL query", (span) => span.name === "PromQL query"],
          ["a trace flush", (span) => span.name === "trace flush"],
          ["an informer restart", (span) => span.name === "informer restart"]
        ]
        const arrived = yield* poll(
          "the spans",
          Effect.sync(() =>
            wanted.every(([, match]) => receiver.spans.some(match))
              ? Math.max(...wanted.map(([, match]) => receiver.spans.find(match)!.receivedAt))
              : undefined
          ),
          40_000
        ).pipe(Effect.catchDefect(() => Effect.die(new Error(`spans so far: ${spanNames(receiver).join(", ")}`))))
        assert.isAtMost(arrived - started, 20_000, "every kind of span within 20 s of start")

        const failed = receiver.spans.find((span) => span.name === "engine scrape failed")!
        assert.strictEqual(failed.attributes["aibrix.scrape.outcome"], "status")
        assert.strictEqual(failed.attributes["aibrix.pod"], "default/engine-0")
        assert.strictEqual(
          receiver.spans.find((span) => span.name === "informer restart")?.attributes["aibrix.informer"],
          "modeladapters"
        )
        for (const span of receiver.spans) {
          assert.strictEqual(span.resource["service.name"], "aibrix-cache-under-test")
          assert.notInclude(
            ["/healthz", "/readyz", "/metrics", "/page/feed"],
            span.attributes["url.path"],
            "probes are not traced"
          )
        }
        const requests = receiver.spans.filter((span) => span.kind === 2).map((span) => span.attributes["url.path"])
        assert.sameMembers(requests, ["/v1/models", "/v1/models/nope/pods"], "the untraced request left out")
        // One span for the outage, not one for each of its failed scrapes.
        assert.strictEqual(receiver.spans.filter((span) => span.name === "engine scrape failed").length, 1)
        // Many failed scrapes (retried with growing delays), one span.
        assert.isAbove(engine.scrapes, 3)
        const { code } = yield* service.stop("SIGTERM")
        assert.strictEqual(code, 0, service.stderr())
      }).pipe(Effect.scoped),
    90_000
  )
})
