/**
 * An HttpClient whose answers a test writes: each request goes to a handler
 * that may answer at once, after a (TestClock) delay, or never.
 */
import { Effect, Layer } from "effect"
import { HttpClient, type HttpClientRequest, HttpClientResponse } from "effect/http"

export interface MockResponse {
  readonly status?: number
  readonly body: string | Uint8Array | ReadableStream<Uint8Array>
  readonly headers?: Record<string, string>
}

export type MockHandler = (url: URL, request: HttpClientRequest.HttpClientRequest) => Effect.Effect<MockResponse>

export const mockHttpClient = (handler: MockHandler): HttpClient.HttpClient =>
  HttpClient.make((request, url) =>
    handler(url, request).pipe(
      Effect.map((response) =>
        HttpClientResponse.fromWeb(
          request,
          new Response(response.body, {
            status: response.status ?? 200,
            ...(response.headers === undefined ? {} : { headers: response.headers })
          })
        )
      )
    )
  )

export const mockHttpLayer = (handler: MockHandler): Layer.Layer<HttpClient.HttpClient> =>
  Layer.succeed(HttpClient.HttpClient, mockHttpClient(handler))
