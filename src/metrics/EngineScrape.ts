/**
 * One scrape of one engine, as the refresh and its transport
 * (`EngineTransport`) speak of it: where the page is, the limits it is
 * fetched within, the page as fetched, and how a scrape can fail.
 */
import { isAscii, isUtf8 } from "node:buffer"
import { Result, Schema } from "effect"
import { NEWLINE } from "../exposition/Lexing.ts"
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

/** A page as fetched: its bytes, read as they are (`EnginePageReader.read`) or as text. */
export class PageBody {
  readonly bytes: Buffer
  constructor(bytes: Buffer) {
    this.bytes = bytes
  }

  /** Whether the bytes are all UTF-8 (else the text holds U+FFFD for what was not). */
  get utf8(): boolean {
    return isAscii(this.bytes) || isUtf8(this.bytes)
  }

  /** The page's text; engines write ASCII, a one-byte string with no decoding. */
  get text(): string {
    return isAscii(this.bytes) ? this.bytes.toString("latin1") : this.bytes.toString("utf8")
  }
}

export interface ScrapeLimits {
  readonly timeoutMs: number
  readonly maxPageBytes: number
}

/** The engine's origin, `http://host:port`; an IPv6 address goes in brackets. */
export const originOf = (podIp: string, port: number): string =>
  `http://${podIp.includes(":") ? `[${podIp}]` : podIp}:${port}`

/** The length an answer's `content-length` header declares; undefined when it declares none (or nonsense). */
export const declaredLength = (header: unknown): number | undefined =>
  typeof header === "string" && /^\d+$/.test(header) ? Number(header) : undefined

/** The scrape's error for a page over the size limit. */
export const pageTooLarge = (url: string, limit: number): ScrapeError =>
  new ScrapeError({ url, reason: "too_large", detail: `the page is larger than ${limit} bytes` })

/**
 * A whole answer's body as a page, or why it is none: an answer other than
 * 200, a body of another length than the answer declared, or one that does
 * not end with a line break (cut short).
 */
export const pageOfAnswer = (
  url: string,
  status: number,
  declared: number | undefined,
  bytes: Buffer
): Result.Result<PageBody, ScrapeError> => {
  if (status !== 200) return Result.fail(new ScrapeError({ url, reason: "status", detail: `HTTP ${status}`, status }))
  if (declared !== undefined && bytes.byteLength !== declared) {
    const detail = `${bytes.byteLength} bytes of the ${declared} the answer declared`
    return Result.fail(new ScrapeError({ url, reason: "truncated", detail }))
  }
  if (bytes.byteLength > 0 && bytes[bytes.byteLength - 1] !== NEWLINE) {
    return Result.fail(new ScrapeError({ url, reason: "truncated", detail: "the page does not end with a line break" }))
  }
  return Result.succeed(new PageBody(bytes))
}

/** The scrape's error for a page with a malformed line. */
export const malformedPage = (url: string, failure: ExpositionParseError): ScrapeError =>
  new ScrapeError({ url, reason: "malformed", detail: `line ${failure.line}: ${failure.reason}` })
