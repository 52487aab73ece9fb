/** Collects what a program logs, as text, instead of printing it. */
import { Effect, Logger } from "effect"

export const captureLogs = (lines: Array<string>) =>
  Effect.provideService(
    Logger.CurrentLoggers,
    new Set([
      Logger.make<unknown, void>(({ logLevel, message }) => {
        const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
        lines.push(`${logLevel}: ${text}`)
      })
    ])
  )
