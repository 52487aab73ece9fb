/**
 * A client of the Prometheus HTTP API's instant query, `/api/v1/query`.
 */
import { Effect, type Redacted, Schema } from "effect"
import { type HttpClient, HttpClientRequest } from "effect/http"
import { PromQLResult } from "../store/PromQLResult.ts"

/** A query Prometheus did not answer with a result. */
export class PrometheusQueryError extends Schema.TaggedError<PrometheusQueryError>()("PrometheusQueryError", {
  query: Schema.String,
  reason: Schema.String
}) {}

/** Where Prometheus is and how to talk to it. */
export interface PrometheusApiOptions {
  /** The server's base URL, such as `http://prometheus:9090`. */
  readonly endpoint: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  /** POST (the default) takes queries of any length; GET suits read-only proxies. */
  readonly method?: "GET" | "POST" | undefined
}

/** The API's envelope: a result, or the reason there is none. */
const QueryResponse = Schema.Union([
  Schema.Struct({ status: Schema.Literal("success"), data: PromQLResult }),
  Schema.Struct({ status: Schema.Literal("error"), errorType: Schema.String, error: Schema.String })
])

const decodeResponse = Schema.decodeUnknownEffect(QueryResponse)

export interface PrometheusApi {
  /** Runs an instant query now. */
  query(promql: string): Effect.Effect<PromQLResult, PrometheusQueryError>
}

const queryUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/api/v1/query`

export const makePrometheusApi = (client: HttpClient.HttpClient, options: PrometheusApiOptions): PrometheusApi => {
  const url = queryUrl(options.endpoint)
  const authorize =
    options.username !== undefined || options.password !== undefined
      ? HttpClientRequest.basicAuth(options.username ?? "", options.password ?? "")
      : (request: HttpClientRequest.HttpClientRequest) => request
  const request = (promql: string): HttpClientRequest.HttpClientRequest =>
    authorize(
      options.method === "GET"
        ? HttpClientRequest.get(url, { urlParams: { query: promql } })
        : HttpClientRequest.post(url).pipe(HttpClientRequest.bodyUrlParams({ query: promql }))
    ).pipe(HttpClientRequest.acceptJson)

  return {
    query: (promql) => {
      const fail = (reason: string) => new PrometheusQueryError({ query: promql, reason })
      return client.execute(request(promql)).pipe(
        // Prometheus explains a refused query in the JSON body of a 4xx/5xx.
        Effect.flatMap((response) =>
          response.json.pipe(Effect.mapError(() => fail(`HTTP ${response.status} with a body that is not JSON`)))
        ),
        Effect.mapError((error) => (error._tag === "PrometheusQueryError" ? error : fail(error.message))),
        Effect.flatMap((json) =>
          decodeResponse(json).pipe(Effect.mapError((error) => fail(`unexpected answer: ${error.message}`)))
        ),
        Effect.flatMap((answer) =>
          answer.status === "success"
            ? Effect.succeed(answer.data)
            : Effect.fail(fail(`${answer.errorType}: ${answer.error}`))
        )
      )
    }
  }
}
