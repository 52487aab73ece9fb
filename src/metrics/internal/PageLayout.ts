/**
 * The layout of a text exposition page as blocks, one per family: found from
 * its comment lines alone, and checked to hold only its family's samples.
 * The page reader compares blocks with the previous page's to parse only what changed.
 */
import {
  CommentKind,
  CommentLine,
  HASH,
  isBlank,
  NEWLINE,
  OPEN_BRACE,
  RETURN,
  SPACE,
  skipBlanks,
  suffixLength,
  UNDERSCORE,
  wordEnd
} from "../../exposition/Lexing.ts"

/** One family's lines on a page: from its first HELP or TYPE line to the next family's. */
export interface FamilyBlock {
  readonly family: string
  /** As its TYPE line says, lower case; `untyped` without one. */
  readonly type: string
  readonly start: number
  readonly end: number
}

/**
 * Whether `[0, end)` holds only blank lines and comment lines that describe no
 * family: no sample outside a block, and no indented HELP, TYPE or EOF line,
 * which the parser reads as it reads one at the start of a line.
 */
const onlyCommentsBefore = (text: string, end: number): boolean => {
  let line: CommentLine | undefined
  let start = 0
  while (start < end) {
    const lineStop = Math.min(lineEnd(text, start), end)
    const cursor = skipBlanks(text, start, lineStop)
    if (cursor < lineStop) {
      const code = text.charCodeAt(cursor)
      if (code !== HASH && code !== RETURN) return false
      if (code === HASH && cursor > start) {
        line ??= new CommentLine()
        if (line.read(text, cursor + 1, lineStop) !== CommentKind.Other) return false
      }
    }
    const next = text.indexOf("\n", lineStop)
    if (next === -1) break
    start = next + 1
  }
  return true
}

/** The end of the line that starts at `start`, without its line break. */
const lineEnd = (text: string, start: number): number => {
  let next = text.indexOf("\n", start)
  if (next === -1) next = text.length
  return next > start && text.charCodeAt(next - 1) === RETURN ? next - 1 : next
}

/** Sample name endings the parser files under a typed histogram or summary family. */
const HISTOGRAM_SUFFIXES: ReadonlyArray<string> = ["_bucket", "_sum", "_count"]
const SUMMARY_SUFFIXES: ReadonlyArray<string> = ["_sum", "_count"]
const NO_SUFFIXES: ReadonlyArray<string> = []

/** What a comment line says: a HELP or TYPE line of a family, the page's end, or nothing the layout needs. */
type Comment =
  | { readonly _tag: "Describes"; readonly family: string; readonly type: string | undefined }
  | { readonly _tag: "End" }
  | { readonly _tag: "Other" }
  | { readonly _tag: "Malformed" }

const OTHER: Comment = { _tag: "Other" }
const END: Comment = { _tag: "End" }
const MALFORMED: Comment = { _tag: "Malformed" }

/**
 * Reads the comment line `[start, end)`, whose first character is `#`, with
 * the parser's own reading of comment lines: a HELP or TYPE line the parser
 * would refuse, or a TYPE line without a type, leaves the page to a whole parse.
 */
const readComment = (line: CommentLine, text: string, start: number, end: number): Comment => {
  const kind = line.read(text, start + 1, end)
  if (kind === CommentKind.EndOfPage) return END
  if (kind === CommentKind.Other) return OTHER
  if (!line.namesFamily(text, end)) return MALFORMED
  const family = text.slice(line.nameStart, line.nameEnd)
  if (kind === CommentKind.Help) return { _tag: "Describes", family, type: undefined }
  if (line.wordStart === end) return MALFORMED
  return { _tag: "Describes", family, type: text.slice(line.wordStart, line.wordEnd).toLowerCase() }
}

const TYPE_PREFIX = "# TYPE "

/** What `[start, end)` says when it is `# TYPE <family> <type>` (one blank between, none after), else undefined. */
const typedLineOf = (text: string, start: number, end: number, family: string): Comment | undefined => {
  const nameStart = start + TYPE_PREFIX.length
  const typeStart = nameStart + family.length + 1
  const plain =
    typeStart < end &&
    text.slice(start, nameStart) === TYPE_PREFIX &&
    text.slice(nameStart, typeStart - 1) === family &&
    text.charCodeAt(typeStart - 1) === SPACE &&
    wordEnd(text, typeStart, end) === end
  return plain ? { _tag: "Describes", family, type: text.slice(typeStart, end).toLowerCase() } : undefined
}

/** The start of the next line after `from` that begins with `#`, or -1. */
const nextCommentLine = (text: string, from: number): number => {
  // One character is searched for faster than two; a `#` inside a line is rare.
  for (let hash = text.indexOf("#", from); hash !== -1; hash = text.indexOf("#", hash + 1)) {
    if (hash > 0 && text.charCodeAt(hash - 1) === NEWLINE) return hash
  }
  return -1
}

const HELP_PREFIX = "# HELP "

/**
 * The family at `[start, end)` when the line is `# HELP <family> ...` or
 * `# HELP <family>`: `family` itself, the very string, so that later lookups
 * by it are cheap; else undefined.
 */
const helpLineOf = (text: string, start: number, end: number, family: string): string | undefined => {
  const nameStart = start + HELP_PREFIX.length
  const nameEnd = nameStart + family.length
  const same =
    nameEnd <= end &&
    text.slice(start, nameStart) === HELP_PREFIX &&
    text.slice(nameStart, nameEnd) === family &&
    (nameEnd === end || text.charCodeAt(nameEnd) === SPACE)
  return same ? family : undefined
}

/**
 * The page's family blocks, found from its comment lines (those that start
 * with `#`), or undefined when they do not lay the page out in blocks: text
 * before the first block, a family named twice, a family whose name another's
 * histogram would fold in, a HELP or TYPE line the parser refuses. Whether
 * each block's samples are its family's is not checked here.
 *
 * `expected` are the families of the page before, in order: a page that names
 * them (or the first of them) again in that order is known to hold no family
 * twice, and its blocks carry those very strings.
 */
export const pageBlocks = (
  text: string,
  expected: ReadonlyArray<{ readonly family: string }> = []
): ReadonlyArray<FamilyBlock> | undefined => {
  const blocks: Array<FamilyBlock> = []
  const line = new CommentLine()
  let family: string | undefined
  let type = "untyped"
  let blockStart = 0
  let pageEnd = text.length
  let asExpected = true
  const close = (at: number) => {
    if (family !== undefined) blocks.push({ family, type, start: blockStart, end: at })
  }
  const first = text.charCodeAt(0) === HASH ? 0 : nextCommentLine(text, 0)
  if (first === -1) return onlyCommentsBefore(text, text.length) ? [] : undefined
  let start = first
  while (true) {
    const end = lineEnd(text, start)
    // The common lines: the next family's HELP line as on the page before, and
    // the TYPE line after a family's HELP line.
    const next = expected[blocks.length + (family === undefined ? 0 : 1)]
    const helped = next === undefined ? undefined : helpLineOf(text, start, end, next.family)
    const comment =
      helped !== undefined
        ? { _tag: "Describes" as const, family: helped, type: undefined }
        : ((family === undefined ? undefined : typedLineOf(text, start, end, family)) ??
          readComment(line, text, start, end))
    if (comment._tag === "Malformed") return undefined
    if (comment._tag === "End") {
      pageEnd = start
      break
    }
    if (comment._tag === "Describes") {
      if (comment.family !== family) {
        close(start)
        if (helped === undefined) asExpected = false
        family = comment.family
        type = "untyped"
        blockStart = start
      }
      if (comment.type !== undefined) type = comment.type
    }
    const following = nextCommentLine(text, end)
    if (following === -1) break
    start = following
  }
  close(pageEnd)
  // Before the first block, only blank and comment lines: a sample there has no block.
  if (!onlyCommentsBefore(text, blocks.length > 0 ? blocks[0]!.start : pageEnd)) return undefined
  // The families of the page before, or the first of them, in order: none twice.
  if (asExpected) return blocks
  const seen = new Set<string>()
  for (const block of blocks) {
    if (seen.has(block.family)) return undefined
    seen.add(block.family)
  }
  // A histogram's TYPE line would fold an earlier family named like its samples into its own.
  for (const name of seen) {
    const suffix = suffixLength(name)
    if (suffix > 0 && seen.has(name.slice(0, -suffix))) return undefined
  }
  return blocks
}

/** Whether the sample name ends at `at`: a label set, a blank, or the line's end follow. */
const nameEndsAt = (text: string, at: number, end: number): boolean =>
  at === end || text.charCodeAt(at) === OPEN_BRACE || isBlank(text.charCodeAt(at))

/**
 * Whether the sample line at `start` belongs to the block's family as the
 * parser would file it: the family's own name (not for a histogram), or a
 * histogram's or summary's suffixed name.
 */
const belongsTo = (text: string, start: number, end: number, block: FamilyBlock): boolean => {
  const after = start + block.family.length
  // A slice compared whole is one native comparison, far faster than a loop over characters.
  if (after > end || text.slice(start, after) !== block.family) return false
  if (nameEndsAt(text, after, end)) return block.type !== "histogram"
  if (text.charCodeAt(after) !== UNDERSCORE) return false
  const suffixes =
    block.type === "histogram" ? HISTOGRAM_SUFFIXES : block.type === "summary" ? SUMMARY_SUFFIXES : NO_SUFFIXES
  for (const suffix of suffixes) {
    if (text.slice(after, after + suffix.length) === suffix && nameEndsAt(text, after + suffix.length, end)) return true
  }
  return false
}

/**
 * Whether every sample line of the block belongs to its family, and its
 * other lines are blank or comments that do not describe a family (those
 * begin blocks of their own when they start their line).
 */
export const samplesBelong = (text: string, block: FamilyBlock): boolean => {
  const line = new CommentLine()
  let start = block.start
  // The sample name of the line before, and its verdict: lines in a row mostly repeat it.
  let lastName = ""
  while (start < block.end) {
    const end = Math.min(lineEnd(text, start), block.end)
    const cursor = skipBlanks(text, start, end)
    if (cursor < end) {
      if (text.charCodeAt(cursor) === HASH) {
        if (cursor > start && readComment(line, text, cursor, end)._tag !== "Other") return false
      } else {
        const brace = text.indexOf("{", cursor)
        const nameEnd = brace !== -1 && brace < end ? brace : wordEnd(text, cursor, end)
        const name = text.slice(cursor, nameEnd)
        if (name !== lastName) {
          if (!belongsTo(text, cursor, end, block)) return false
          lastName = name
        }
      }
    }
    const next = text.indexOf("\n", end)
    if (next === -1) break
    start = next + 1
  }
  return true
}

/**
 * Whether no indented line of the block is a HELP, TYPE or EOF comment: the
 * parser reads those as it reads them at the start of a line, so one in a
 * block could describe another family (or end the page) where the page's own
 * layout does not show it.
 */
export const indentedCommentsInert = (text: string, block: FamilyBlock): boolean => {
  let line: CommentLine | undefined
  for (let hash = text.indexOf("#", block.start); hash !== -1 && hash < block.end; hash = text.indexOf("#", hash + 1)) {
    let lineStart = hash
    while (lineStart > block.start && isBlank(text.charCodeAt(lineStart - 1))) lineStart--
    const indented = lineStart < hash && (lineStart === block.start || text.charCodeAt(lineStart - 1) === NEWLINE)
    if (!indented) continue
    line ??= new CommentLine()
    if (line.read(text, hash + 1, Math.min(lineEnd(text, hash), block.end)) !== CommentKind.Other) return false
  }
  return true
}
