/**
 * An error as one line, with its causes, for a log or a typed error's field:
 * e.g. `fetch failed: connect ECONNREFUSED 127.0.0.1:1`.
 */
export const describeError = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    parts.push(current instanceof Error ? current.message : String(current))
    current = current instanceof Error ? current.cause : undefined
  }
  return parts.filter((part) => part !== "").join(": ")
}
