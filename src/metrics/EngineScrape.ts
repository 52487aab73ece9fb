/**
 * One scrape of one engine, as the refresh and its transport
 * (`EngineTransport`) speak of it: where the page is, the limits it is
 * fetched within, the page as fetched, and how a scrape can fail.
 */
import { isAscii, isUtf8 } from "node:buffer"
import { Schema } from "effect"
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

/** The scrape's error for a page with a malformed line. */
export const malformedPage = (url: string, failure: ExpositionParseError): ScrapeError =>
  new ScrapeError({ url, reason: "malformed", detail: `line ${failure.line}: ${failure.reason}` })
