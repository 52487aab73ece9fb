/**
 * One scrape of one engine: GET its `/metrics` page within a time limit and a
 * size limit, and parse the families the catalogue needs.
 */
import { Effect, Schema, Stream } from "effect"
import type { HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import type { ExpositionParseError } from "../exposition/MetricFamily.ts"

/** Why a scrape yielded no page. */
export const ScrapeFailure = Schema.Literals(["timeout", "transport", "status", "too_large", "malformed"])
export type ScrapeFailure = typeof ScrapeFailure.Type

/** Every way a scrape ends. */
export type ScrapeOutcome = "ok" | ScrapeFailure

export const scrapeOutcomes: ReadonlyArray<ScrapeOutcome> = ["ok", ...ScrapeFailure.literals]

export class ScrapeError extends Schema.TaggedError<ScrapeError>()("ScrapeError", {
  url: Schema.String,
  reason: ScrapeFailure,
  detail: Schema.String
}) {}

export interface ScrapeLimits {
  readonly timeoutMs: number
  readonly maxPageBytes: number
}

/** The engine's metrics URL; an IPv6 address goes in brackets. */
export const metricsUrl = (podIp: string, port: number): string =>
  `http://${podIp.includes(":") ? `[${podIp}]` : podIp}:${port}/metrics`

const decoder = new TextDecoder()

const tooLarge = (url: string, limit: number) =>
  new ScrapeError({ url, reason: "too_large", detail: `the page is larger than ${limit} bytes` })

const transport = (url: string) => (error: HttpClientError.HttpClientError) =>
  new ScrapeError({ url, reason: "transport", detail: error.message })

/**
 * Reads the body in chunks, failing (and so destroying the body) once it
 * passes `allowed` bytes, which is the limit unless the body is known to be
 * over it.
 */
const readChunks = (
  url: string,
  response: HttpClientResponse.HttpClientResponse,
  limit: number,
  allowed = limit
): Effect.Effect<string, ScrapeError> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(response.stream, (chunk) => {
      size += chunk.byteLength
      if (size > allowed) return Effect.fail(tooLarge(url, limit))
      chunks.push(chunk)
      return Effect.void
    }).pipe(
      Effect.mapError((error) => (error._tag === "ScrapeError" ? error : transport(url)(error))),
      Effect.map(() => decoder.decode(Buffer.concat(chunks, size)))
    )
  })

/**
 * The body as text, never reading past `limit` bytes. A body of a declared
 * length within the limit is read whole; any other is read in chunks and
 * dropped as soon as it passes the limit (a declared length over it at the
 * first chunk), which aborts the request.
 */
const readBody = (
  url: string,
  response: HttpClientResponse.HttpClientResponse,
  limit: number
): Effect.Effect<string, ScrapeError> => {
  const declared = response.headers["content-length"]
  if (declared === undefined || !/^\d+$/.test(declared)) return readChunks(url, response, limit)
  if (Number(declared) > limit) return readChunks(url, response, limit, 0)
  return response.arrayBuffer.pipe(
    Effect.mapError(transport(url)),
    Effect.flatMap((buffer) =>
      buffer.byteLength > limit ? Effect.fail(tooLarge(url, limit)) : Effect.succeed(decoder.decode(buffer))
    )
  )
}

/** The page's text, or why there is none. */
export const fetchPage = (
  client: HttpClient.HttpClient,
  url: string,
  limits: ScrapeLimits
): Effect.Effect<string, ScrapeError> =>
  client.get(url).pipe(
    Effect.mapError(transport(url)),
    Effect.flatMap((response) => {
      const body = readBody(url, response, limits.maxPageBytes)
      if (response.status === 200) return body
      // The error page is read (and dropped) so the connection can serve the next scrape.
      const failure = new ScrapeError({ url, reason: "status", detail: `HTTP ${response.status}` })
      return body.pipe(Effect.ignore, Effect.andThen(Effect.fail(failure)))
    }),
    Effect.timeoutOrElse({
      duration: limits.timeoutMs,
      orElse: () =>
        Effect.fail(new ScrapeError({ url, reason: "timeout", detail: `no page within ${limits.timeoutMs} ms` }))
    })
  )

/** The scrape's error for a page with a malformed line. */
export const malformedPage = (url: string, failure: ExpositionParseError): ScrapeError =>
  new ScrapeError({ url, reason: "malformed", detail: `line ${failure.line}: ${failure.reason}` })
