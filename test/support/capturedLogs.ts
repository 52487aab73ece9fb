/** Keeps what a program logs, for tests that check what was logged, instead of printing it. */
import { Effect, type Layer, Logger, type LogLevel, References } from "effect"

export interface CapturedLog {
  readonly level: LogLevel.LogLevel
  readonly message: string
  /** The line's fields (`Effect.annotateLogs`). */
  readonly annotations: Readonly<Record<string, unknown>>
}

const loggerInto = (push: (line: CapturedLog) => void) =>
  Logger.make<unknown, void>(({ fiber, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    push({
      level: logLevel,
      message: parts.map(String).join(" "),
      annotations: fiber.getRef(References.CurrentLogAnnotations)
    })
  })

/** A logger layer and the lines it kept, as level and message. */
export const capturedLogs = (): { readonly lines: Array<CapturedLog>; readonly layer: Layer.Layer<never> } => {
  const lines: Array<CapturedLog> = []
  return { lines, layer: Logger.layer([loggerInto((line) => lines.push(line))]) }
}

/** Runs an effect with its log lines kept in `lines` as `Level: message`. */
export const captureLogs = (lines: Array<string>) =>
  Effect.provideService(
    Logger.CurrentLoggers,
    new Set([loggerInto(({ level, message }) => lines.push(`${level}: ${message}`))])
  )
