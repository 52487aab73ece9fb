/**
 * The syntax of a Kubernetes label selector, checked before it is sent: a bad
 * selector would otherwise be refused by the API server on every list, and
 * show only as the initial sync timing out a minute later.
 *
 * Requirements are separated by commas: `key`, `!key`, `key=value`,
 * `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>1`,
 * `key<1`. A key is an optional DNS-subdomain prefix and `/`, then a name of
 * at most 63 characters; a value is at most 63 characters, or empty.
 */

const NAME = "[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
const PREFIX = "[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?/"
const KEY = `(?:${PREFIX})?${NAME}`
const VALUE = `(?:${NAME})?`

const REQUIREMENTS = [
  new RegExp(`^!?\\s*${KEY}$`),
  new RegExp(`^${KEY}\\s*(?:==|=|!=)\\s*${VALUE}$`),
  new RegExp(`^${KEY}\\s*[<>]\\s*-?\\d+$`),
  new RegExp(`^${KEY}\\s+(?:in|notin)\\s*\\(\\s*${NAME}(?:\\s*,\\s*${NAME})*\\s*\\)$`)
]

/** The requirements of a selector: split at the commas outside parentheses. */
const requirementsOf = (selector: string): ReadonlyArray<string> => {
  const requirements: Array<string> = []
  let depth = 0
  let start = 0
  for (let i = 0; i < selector.length; i++) {
    const char = selector[i]
    if (char === "(") depth++
    else if (char === ")") depth--
    else if (char === "," && depth === 0) {
      requirements.push(selector.slice(start, i).trim())
      start = i + 1
    }
  }
  requirements.push(selector.slice(start).trim())
  return requirements
}

/** Why the text is not a label selector, or undefined when it is one. */
export const labelSelectorProblem = (selector: string): string | undefined => {
  for (const requirement of requirementsOf(selector)) {
    if (requirement === "") return "an empty requirement (a comma too many)"
    if (!REQUIREMENTS.some((pattern) => pattern.test(requirement))) {
      return `${JSON.stringify(requirement)} is not a requirement (key, !key, key=value, key!=value, key in (a,b), key notin (a,b))`
    }
  }
  return undefined
}
