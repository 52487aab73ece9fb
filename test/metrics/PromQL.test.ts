import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import type { HttpClientRequest } from "effect/http"
import { promQLMetrics } from "../../src/metrics/MetricCatalogue.ts"
import { makePrometheusApi } from "../../src/metrics/PrometheusApi.ts"
import { buildQuery, escapeLabelValue, podQueries } from "../../src/metrics/PromQL.ts"
import { mockHttpClient } from "../support/mockHttp.ts"

const metric = (name: string) => promQLMetrics.find((metric) => metric.name === name)!

describe("PromQL query building", () => {
  it("replaces placeholders with the labels given", () => {
    assert.strictEqual(
      buildQuery(metric("p95_ttft_5m").query, [
        ["instance", "10.0.0.1:8000"],
        ["model_name", "llama"]
      ]),
      "histogram_quantile(0.95, sum by(le) (rate(vllm:time_to_first_token_seconds_bucket" +
        '{instance="10.0.0.1:8000", model_name="llama", job="pods"}[5m])))'
    )
  })

  it("injects a label absent from the template at the first {", () => {
    assert.strictEqual(
      buildQuery(`sum(rate(x{job="pods"}[1m])) / sum(rate(y{job="pods"}[1m]))`, [["model_name", "m"]]),
      `sum(rate(x{model_name="m",job="pods"}[1m])) / sum(rate(y{job="pods"}[1m]))`
    )
    assert.strictEqual(buildQuery(`up`, [["model_name", "m"]]), `up`, "no selector, nothing to inject into")
  })

  it("replaces every occurrence of a placeholder", () => {
    assert.strictEqual(
      buildQuery(metric("avg_tpot_pod_5m").query, [["instance", "1.2.3.4:8000"]]),
      `increase(vllm:time_per_output_token_seconds_sum{instance="1.2.3.4:8000", job="pods"}[5m]) / ` +
        `increase(vllm:time_per_output_token_seconds_count{instance="1.2.3.4:8000", job="pods"}[5m])`
    )
  })

  it("leaves no query when a placeholder has no value", () => {
    assert.isUndefined(buildQuery(metric("p95_ttft_5m").query, [["instance", "10.0.0.1:8000"]]))
  })

  it("escapes values so they cannot leave their quotes", () => {
    assert.strictEqual(escapeLabelValue(`a"b\\c\nd`), `a\\"b\\\\c\\nd`)
    assert.strictEqual(
      buildQuery(`x{a="\${a}"}`, [["a", `"} or vector(1) or x{b="`]]),
      `x{a="\\"} or vector(1) or x{b=\\""}`
    )
  })

  it("one query per pod-scope metric, one per model for pod-model metrics", () => {
    const queries = podQueries(promQLMetrics, "10.0.0.9", ["base", "lora-a"])
    const podScope = promQLMetrics.filter((metric) => metric.scope === "pod").length
    const podModelScope = promQLMetrics.length - podScope
    assert.strictEqual(queries.length, podScope + 2 * podModelScope)
    const ttft = queries.filter((query) => query.metric.name === "p95_ttft_5m")
    assert.deepStrictEqual(
      ttft.map((query) => query.model),
      ["base", "lora-a"]
    )
    assert.include(ttft[1]!.query, `model_name="lora-a"`)
    for (const query of queries) assert.include(query.query, `instance="10.0.0.9:8000"`)
  })

  it("the TPOT mean divides by _count (the reference's fix)", () => {
    const query = metric("avg_tpot_pod_5m").query
    assert.include(query, "/ increase(vllm:time_per_output_token_seconds_count")
  })
})

const vector = {
  status: "success",
  data: { resultType: "vector", result: [{ metric: { instance: "a" }, value: [1700000000.5, "0.25"] }] }
}

describe("Prometheus API client", () => {
  it.effect("POSTs the query form-encoded with basic auth, and decodes the data", () =>
    Effect.gen(function* () {
      const seen: Array<HttpClientRequest.HttpClientRequest> = []
      const api = makePrometheusApi(
        mockHttpClient((_url, request) => {
          seen.push(request)
          return Effect.succeed({ body: JSON.stringify(vector) })
        }),
        { endpoint: "http://prom:9090/", username: "user", password: Redacted.make("secret") }
      )
      const result = yield* api.query("up")
      assert.deepStrictEqual(result, {
        resultType: "vector",
        result: [{ metric: { instance: "a" }, value: [1700000000.5, "0.25"] }]
      })
      const request = seen[0]!
      assert.strictEqual(request.method, "POST")
      assert.strictEqual(request.url, "http://prom:9090/api/v1/query")
      assert.strictEqual(request.headers.authorization, `Basic ${Buffer.from("user:secret").toString("base64")}`)
      assert.strictEqual(request.body._tag, "Uint8Array")
      if (request.body._tag === "Uint8Array")
        assert.strictEqual(new TextDecoder().decode(request.body.body), "query=up")
    })
  )

  it.effect("GET puts the query in the URL and sends no credentials when none are set", () =>
    Effect.gen(function* () {
      const urls: Array<URL> = []
      const headers: Array<string | undefined> = []
      const api = makePrometheusApi(
        mockHttpClient((url, request) => {
          urls.push(url)
          headers.push(request.headers.authorization)
          return Effect.succeed({ body: JSON.stringify(vector) })
        }),
        { endpoint: "http://prom:9090", method: "GET" }
      )
      yield* api.query(`rate(x{a="b"}[5m])`)
      assert.strictEqual(urls[0]!.searchParams.get("query"), `rate(x{a="b"}[5m])`)
      assert.strictEqual(urls[0]!.pathname, "/api/v1/query")
      assert.isUndefined(headers[0])
    })
  )

  it.effect("a refused query fails with Prometheus's reason", () =>
    Effect.gen(function* () {
      const api = makePrometheusApi(
        mockHttpClient(() =>
          Effect.succeed({
            status: 400,
            body: JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error at char 3" })
          })
        ),
        { endpoint: "http://prom:9090" }
      )
      const error = yield* Effect.flip(api.query("up{"))
      assert.strictEqual(error._tag, "PrometheusQueryError")
      assert.strictEqual(error.query, "up{")
      assert.include(error.reason, "bad_data: parse error at char 3")
    })
  )

  it.effect("an answer that is not JSON, or not the API's shape, is a typed failure", () =>
    Effect.gen(function* () {
      const notJson = makePrometheusApi(
        mockHttpClient(() => Effect.succeed({ status: 502, body: "<html>bad gateway</html>" })),
        { endpoint: "http://prom:9090" }
      )
      const first = yield* Effect.flip(notJson.query("up"))
      assert.include(first.reason, "HTTP 502")
      const wrongShape = makePrometheusApi(
        mockHttpClient(() =>
          Effect.succeed({ body: JSON.stringify({ status: "success", data: { resultType: "vector", result: 3 } }) })
        ),
        { endpoint: "http://prom:9090" }
      )
      const second = yield* Effect.flip(wrongShape.query("up"))
      assert.include(second.reason, "unexpected answer")
    })
  )

  it.effect("decodes scalar and matrix results", () =>
    Effect.gen(function* () {
      const answers = [
        { status: "success", data: { resultType: "scalar", result: [1, "2"] } },
        {
          status: "success",
          data: {
            resultType: "matrix",
            result: [
              {
                metric: {},
                values: [
                  [1, "1"],
                  [2, "NaN"]
                ]
              }
            ]
          }
        }
      ]
      let next = 0
      const api = makePrometheusApi(
        mockHttpClient(() => Effect.succeed({ body: JSON.stringify(answers[next++]) })),
        { endpoint: "http://prom:9090" }
      )
      assert.deepStrictEqual(yield* api.query("scalar(1)"), { resultType: "scalar", result: [1, "2"] })
      const matrix = yield* api.query("x[1m]")
      assert.strictEqual(matrix.resultType, "matrix")
    })
  )
})
