/**
 * One scrape of one engine: GET its Prometheus page within a time limit and a
 * size limit, and only whole: a body cut short (shorter than its
 * content-length, ended by a lost connection, or without its final line
 * break) is no page.
 */
import { isUtf8 } from "node:buffer"
import { Effect, Schema, Stream } from "effect"
import type { HttpClient, HttpClientError, HttpClientResponse } from "effect/http"
import type { ExpositionParseError } from "../exposition/MetricFamily.ts"

/** Why a scrape yielded no page. */
export const ScrapeFailure = Schema.Literals(["timeout", "transport", "status", "too_large", "truncated", "malformed"])
export type ScrapeFailure = typeof ScrapeFailure.Type

/** Every way a scrape ends. */
export type ScrapeOutcome = "ok" | ScrapeFailure

export const scrapeOutcomes: ReadonlyArray<ScrapeOutcome> = ["ok", ...ScrapeFailure.literals]

export class ScrapeError extends Schema.TaggedError<ScrapeError>()("ScrapeError", {
  url: Schema.String,
  reason: ScrapeFailure,
  detail: Schema.String,
  /** The HTTP status of an answer other than 200. */
  status: Schema.optional(Schema.Number)
}) {}

/** A page as fetched: its text, and whether its bytes were all UTF-8 (else the text holds U+FFFD for what was not). */
export interface PageBody {
  readonly text: string
  readonly utf8: boolean
}

export interface ScrapeLimits {
  readonly timeoutMs: number
  readonly maxPageBytes: number
}

/** The engine's metrics URL at `path`; an IPv6 address goes in brackets. */
export const metricsUrl = (podIp: string, port: number, path = "/metrics"): string =>
  `http://${podIp.includes(":") ? `[${podIp}]` : podIp}:${port}${path}`

const decoder = new TextDecoder()

const tooLarge = (url: string, limit: number) =>
  new ScrapeError({ url, reason: "too_large", detail: `the page is larger than ${limit} bytes` })

const transport = (url: string) => (error: HttpClientError.HttpClientError) =>
  new ScrapeError({ url, reason: "transport", detail: error.message })

/** The body broke off after the answer began: the connection was lost or closed early. */
const cut = (url: string) => (error: HttpClientError.HttpClientError) =>
  new ScrapeError({ url, reason: "truncated", detail: `the body broke off: ${error.message}` })

const NEWLINE = 10

/** The page of a whole body; a body that does not end its last line was cut short. */
const pageOf = (url: string, bytes: Uint8Array): Effect.Effect<PageBody, ScrapeError> =>
  bytes.byteLength > 0 && bytes[bytes.byteLength - 1] !== NEWLINE
    ? Effect.fail(new ScrapeError({ url, reason: "truncated", detail: "the page does not end with a line break" }))
    : Effect.succeed({ text: decoder.decode(bytes), utf8: isUtf8(bytes) })

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
): Effect.Effect<PageBody, ScrapeError> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    return Stream.runForEach(response.stream, (chunk) => {
      size += chunk.byteLength
      if (size > allowed) return Effect.fail(tooLarge(url, limit))
      chunks.push(chunk)
      return Effect.void
    }).pipe(
      Effect.mapError((error) => (error._tag === "ScrapeError" ? error : cut(url)(error))),
      Effect.flatMap(() => pageOf(url, Buffer.concat(chunks, size)))
    )
  })

/**
 * The page, never reading past `limit` bytes. A body of a declared length
 * within the limit is read whole, and must have that length; any other is
 * read in chunks and dropped as soon as it passes the limit (a declared
 * length over it at the first chunk), which aborts the request.
 */
const readBody = (
  url: string,
  response: HttpClientResponse.HttpClientResponse,
  limit: number
): Effect.Effect<PageBody, ScrapeError> => {
  const declared = response.headers["content-length"]
  if (declared === undefined || !/^\d+$/.test(declared)) return readChunks(url, response, limit)
  const length = Number(declared)
  if (length > limit) return readChunks(url, response, limit, 0)
  return response.arrayBuffer.pipe(
    Effect.mapError(cut(url)),
    Effect.flatMap((buffer) =>
      buffer.byteLength !== length
        ? Effect.fail(
            new ScrapeError({
              url,
              reason: "truncated",
              detail: `${buffer.byteLength} bytes of the ${length} the answer declared`
            })
          )
        : pageOf(url, new Uint8Array(buffer))
    )
  )
}

/** The page, or why there is none. */
export const fetchPage = (
  client: HttpClient.HttpClient,
  url: string,
  limits: ScrapeLimits
): Effect.Effect<PageBody, ScrapeError> =>
  client.get(url).pipe(
    Effect.mapError(transport(url)),
    Effect.flatMap((response) => {
      const body = readBody(url, response, limits.maxPageBytes)
      if (response.status === 200) return body
      // The error page is read (and dropped) so the connection can serve the next scrape.
      const failure = new ScrapeError({
        url,
        reason: "status",
        detail: `HTTP ${response.status}`,
        status: response.status
      })
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
