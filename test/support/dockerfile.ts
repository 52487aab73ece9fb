/**
 * A Dockerfile read the way `docker build` reads it, far enough to check its
 * stages in tests where Docker cannot run: comments and line continuations,
 * `ARG`s declared before the first `FROM` substituted into `FROM`, and each
 * instruction filed under its stage.
 */

export interface Instruction {
  /** Upper case: `RUN`, `COPY`, … */
  readonly keyword: string
  /** The rest of the instruction, continuation lines joined. */
  readonly args: string
  /** Its line in the file (1-based). */
  readonly line: number
}

export interface Stage {
  readonly image: string
  readonly name: string | undefined
  readonly instructions: ReadonlyArray<Instruction>
}

export interface Dockerfile {
  /** The `ARG`s before the first `FROM`, with their defaults. */
  readonly globalArgs: ReadonlyMap<string, string>
  readonly stages: ReadonlyArray<Stage>
}

const instructions = (text: string): Array<Instruction> => {
  const result: Array<Instruction> = []
  let pending: { text: string; line: number } | undefined
  text.split("\n").forEach((raw, index) => {
    const trimmed = raw.trim()
    // Comment and empty lines are dropped, even between continuation lines.
    if (trimmed.startsWith("#") || trimmed === "") return
    const continued = trimmed.endsWith("\\")
    const part = continued ? trimmed.slice(0, -1) : trimmed
    pending = pending === undefined ? { text: part, line: index + 1 } : { ...pending, text: `${pending.text} ${part}` }
    if (continued) return
    const match = /^(\S+)\s*(.*)$/s.exec(pending.text.trim())
    if (match !== null) result.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: pending.line })
    pending = undefined
  })
  return result
}

const substitute = (text: string, args: ReadonlyMap<string, string>): string =>
  text.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (whole, braced?: string, bare?: string) => args.get(braced ?? bare ?? "") ?? whole
  )

export const parseDockerfile = (text: string): Dockerfile => {
  const globalArgs = new Map<string, string>()
  const stages: Array<{ image: string; name: string | undefined; instructions: Array<Instruction> }> = []
  for (const instruction of instructions(text)) {
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = substitute(instruction.args, globalArgs).split(/\s+/)
      stages.push({ image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else if (stages.length === 0 && instruction.keyword === "ARG") {
      const [name = "", value = ""] = instruction.args.split("=", 2)
      globalArgs.set(name, value)
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return { globalArgs, stages }
}

/** The arguments of an exec-form instruction (`["node", "x.js"]`); undefined for the shell form. */
export const execForm = (instruction: Instruction): ReadonlyArray<string> | undefined => {
  if (!instruction.args.startsWith("[")) return undefined
  const parsed: unknown = JSON.parse(instruction.args)
  return Array.isArray(parsed) && parsed.every((arg) => typeof arg === "string") ? parsed : undefined
}

/** A `COPY`'s flags (`--from=build`), sources and destination. */
export const copyArgs = (
  instruction: Instruction
): { readonly flags: ReadonlyMap<string, string>; readonly sources: ReadonlyArray<string>; readonly dest: string } => {
  const words = instruction.args.split(/\s+/)
  const flags = new Map<string, string>()
  while (words[0]?.startsWith("--")) {
    const [name = "", value = ""] = words.shift()!.slice(2).split("=", 2)
    flags.set(name, value)
  }
  const dest = words.pop() ?? ""
  return { flags, sources: words, dest }
}
