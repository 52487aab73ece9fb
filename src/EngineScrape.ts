/**
 * One scrape of one engine: GET its `/metrics` page within a time limit and a
 * size limit, and parse the families the catalogue needs.
 */
import { Effect, Schema, Stream } from "effect"
import { HttpClient, type HttpClientError, type HttpClientResponse } from "effect/http"
import { engineFamilies } from "./MetricCatalogue.ts"
import { type ParsedPage, parse } from "./PrometheusText.ts"

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
 * The body as text, never reading past `limit` bytes: a declared length over
 * the limit fails before reading, an undeclared one as soon as it passes it
 * (the request is then aborted, closing the connection).
 */
const readBody = (
  url: string,
  response: HttpClientResponse.HttpClientResponse,
  limit: number
): Effect.Effect<string, ScrapeError> => {
  const declared = response.headers["content-length"]
  if (declared !== undefined && /^\d+$/.test(declared)) {
    if (Number(declared) > limit) return Effect.fail(tooLarge(url, limit))
    return response.arrayBuffer.pipe(
      Effect.mapError(transport(url)),
      Effect.flatMap((buffer) =>
        buffer.byteLength > limit ? Effect.fail(tooLarge(url, limit)) : Effect.succeed(decoder.decode(buffer))
      )
    )
  }
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(response.stream, (chunk) => {
      size += chunk.byteLength
      if (size > limit) return Effect.fail(tooLarge(url, limit))
      chunks.push(chunk)
      return Effect.void
    }).pipe(
      Effect.mapError((error) => error._tag === "ScrapeError" ? error : transport(url)(error)),
      Effect.map(() => decoder.decode(Buffer.concat(chunks, size)))
    )
  })
}

/** The page's text, or why there is none. */
export const fetchPage = (
  client: HttpClient.HttpClient,
  url: string,
  limits: ScrapeLimits
): Effect.Effect<string, ScrapeError> =>
  HttpClient.withScope(client).get(url).pipe(
    Effect.mapError(transport(url)),
    Effect.flatMap((response) =>
      response.status === 200
        ? readBody(url, response, limits.maxPageBytes)
        : Effect.fail(new ScrapeError({ url, reason: "status", detail: `HTTP ${response.status}` }))
    ),
    // Closing the scope aborts whatever of the request is still open.
    Effect.scoped,
    Effect.timeoutOrElse({
      duration: limits.timeoutMs,
      orElse: () =>
        Effect.fail(new ScrapeError({ url, reason: "timeout", detail: `no page within ${limits.timeoutMs} ms` }))
    })
  )

/** The catalogue's families of a page; a malformed line fails the whole page. */
export const parsePage = (url: string, text: string): Effect.Effect<ParsedPage, ScrapeError> => {
  const result = parse(text, { families: engineFamilies, malformed: "fail" })
  return result._tag === "Success"
    ? Effect.succeed(result.success)
    : Effect.fail(
      new ScrapeError({
        url,
        reason: "malformed",
        detail: `line ${result.failure.line}: ${result.failure.reason}`
      })
    )
}
