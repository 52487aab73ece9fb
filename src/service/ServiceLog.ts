/**
 * The service's log lines: one per lifecycle event, structured as logfmt
 * (`key=value`) or as one JSON object per line. Secrets are `Redacted` values
 * wherever they are read, so no line can print one. No value in a line is
 * longer than `MAX_LOG_VALUE_LENGTH`: an error that quotes a whole file or
 * request is cut, saying how much was left out.
 */
import { Formatter, type Layer, Logger } from "effect"

export const LOG_FORMATS = ["logfmt", "json"] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** The most characters of one value a log line carries. */
export const MAX_LOG_VALUE_LENGTH = 2_048

/** The text itself, or its first `MAX_LOG_VALUE_LENGTH` characters and how many more there were. */
export const clipLogValue = (text: string): string =>
  text.length <= MAX_LOG_VALUE_LENGTH
    ? text
    : `${text.slice(0, MAX_LOG_VALUE_LENGTH)}… (${text.length - MAX_LOG_VALUE_LENGTH} more characters)`

/** A value of the structured record: a string clipped; anything else as is, or as clipped JSON when too long. */
const clipValue = (value: unknown): unknown => {
  if (typeof value === "string") return clipLogValue(value)
  if (value === null || typeof value !== "object") return value
  const json = Formatter.formatJson(value)
  return json.length <= MAX_LOG_VALUE_LENGTH ? value : clipLogValue(json)
}

type LogRecord = ReturnType<typeof Logger.formatStructured.log>

const clipRecord = (record: LogRecord): LogRecord => {
  const annotations: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(record.annotations)) annotations[key] = clipValue(value)
  return {
    ...record,
    message: Array.isArray(record.message) ? record.message.map(clipValue) : clipValue(record.message),
    cause: record.cause === undefined ? undefined : clipLogValue(record.cause),
    annotations
  }
}

// As Effect's logfmt logger writes them: bare when the value has no space, quote or `=`.
const BARE = /^[^\s"=]*$/
const logfmtLabel = (key: string): string => key.replace(/[\s="]/g, "_")
const logfmtPair = (key: string, value: unknown): string => {
  const text = typeof value === "string" ? value : Formatter.formatJson(value)
  return ` ${logfmtLabel(key)}=${BARE.test(text) ? text : JSON.stringify(text)}`
}

const logfmtLine = (record: LogRecord): string => {
  let line = `timestamp=${record.timestamp} level=${record.level} fiber=${record.fiberId}`
  const messages: ReadonlyArray<unknown> = Array.isArray(record.message) ? record.message : [record.message]
  for (const message of messages) line += logfmtPair("message", message)
  if (record.cause !== undefined) line += logfmtPair("cause", record.cause)
  for (const [label, ms] of Object.entries(record.spans)) line += ` ${logfmtLabel(label)}=${ms}ms`
  for (const [key, value] of Object.entries(record.annotations)) line += logfmtPair(key, value)
  return line
}

/** The line of a log event in the format, every value clipped. */
export const serviceLogger = (format: LogFormat): Logger.Logger<unknown, string> =>
  Logger.map(Logger.formatStructured, (record) => {
    const clipped = clipRecord(record)
    return format === "json" ? Formatter.formatJson(clipped) : logfmtLine(clipped)
  })

/** Replaces the default logger with one that writes the given format to stdout. */
export const loggerLayer = (format: LogFormat): Layer.Layer<never> =>
  Logger.layer([Logger.withConsoleLog(serviceLogger(format))])
