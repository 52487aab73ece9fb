/**
 * An HttpClient and an engine transport whose answers a test writes: each
 * request goes to a handler that may answer at once, after a (TestClock)
 * delay, or never. The transport takes a page as the live one does: within
 * the time limit (on the test's clock) and the size limit, only whole, an
 * error status read to its end and refused.
 */
import { Cause, Effect, Layer } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse } from "effect/http"
import {
  declaredLength,
  type PageBody,
  pageOfAnswer,
  pageTooLarge,
  ScrapeError,
  type ScrapeLimits
} from "../../src/metrics/EngineScrape.ts"
import { EngineTransport } from "../../src/metrics/EngineTransport.ts"

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

/** The body's bytes, never reading past `allowed`; undefined when it is longer. A stream over it is cancelled. */
const bytesOf = (body: MockResponse["body"], allowed: number): Effect.Effect<Uint8Array | undefined, string> => {
  if (typeof body === "string") {
    const bytes = new TextEncoder().encode(body)
    return Effect.succeed(bytes.byteLength > allowed ? undefined : bytes)
  }
  if (body instanceof Uint8Array) return Effect.succeed(body.byteLength > allowed ? undefined : body)
  return Effect.tryPromise({
    try: async () => {
      const reader = body.getReader()
      const chunks: Array<Uint8Array> = []
      let size = 0
      while (true) {
        const { done, value } = await reader.read()
        if (done) return Buffer.concat(chunks, size)
        size += value.byteLength
        if (size > allowed) {
          await reader.cancel()
          return undefined
        }
        chunks.push(value)
      }
    },
    catch: (error) => String(error)
  })
}

const page = (url: string, response: MockResponse, limits: ScrapeLimits): Effect.Effect<PageBody, ScrapeError> => {
  const declared = declaredLength(response.headers?.["content-length"])
  if (declared !== undefined && declared > limits.maxPageBytes)
    return Effect.fail(pageTooLarge(url, limits.maxPageBytes))
  return bytesOf(response.body, limits.maxPageBytes).pipe(
    Effect.catch((error) =>
      Effect.fail(new ScrapeError({ url, reason: "truncated", detail: `the body broke off: ${error}` }))
    ),
    Effect.flatMap((bytes) =>
      bytes === undefined
        ? Effect.fail(pageTooLarge(url, limits.maxPageBytes))
        : Effect.fromResult(
            pageOfAnswer(
              url,
              response.status ?? 200,
              declared,
              Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
            )
          )
    )
  )
}

/** Connections opened and closed so far, by origin. */
export interface MockConnections {
  readonly opened: Array<string>
  readonly closed: Array<string>
}

export const mockTransport = (
  handler: MockHandler,
  connections: MockConnections = { opened: [], closed: [] }
): EngineTransport["Service"] => ({
  connect: (origin) => {
    connections.opened.push(origin)
    return {
      get: (path, limits) => {
        const url = origin + path
        return handler(new URL(url), HttpClientRequest.get(url)).pipe(
          Effect.catchCause((cause) =>
            Effect.fail(new ScrapeError({ url, reason: "transport", detail: Cause.pretty(cause) }))
          ),
          Effect.flatMap((response) => page(url, response, limits)),
          Effect.timeoutOrElse({
            duration: limits.timeoutMs,
            orElse: () =>
              Effect.fail(new ScrapeError({ url, reason: "timeout", detail: `no page within ${limits.timeoutMs} ms` }))
          })
        )
      },
      close: () => void connections.closed.push(origin)
    }
  }
})

/** The handler as the refresh's clients: its engine transport and its HTTP client (PromQL). */
export const mockHttpLayer = (
  handler: MockHandler,
  connections?: MockConnections
): Layer.Layer<HttpClient.HttpClient | EngineTransport> =>
  Layer.merge(
    Layer.succeed(HttpClient.HttpClient, mockHttpClient(handler)),
    Layer.succeed(EngineTransport, mockTransport(handler, connections))
  )
