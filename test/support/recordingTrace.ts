/** A trace recorder for store tests: it writes down every call the store makes of it. */
import type { TraceRecorder } from "../../src/store/TraceRecorder.ts"

/**
 * A recorder whose windows all have `term`, and the calls made of it:
 * `add <model>` and `done <model> <term>` (with ` <input>:<output>` when the
 * done carries token counts).
 */
export const recordingTrace = (term: number): { readonly recorder: TraceRecorder; readonly calls: Array<string> } => {
  const calls: Array<string> = []
  const recorder: TraceRecorder = {
    addRequest: (model) => {
      calls.push(`add ${model}`)
      return term
    },
    currentTerm: () => term,
    doneRequest: (model, doneTerm, tokens) =>
      calls.push(`done ${model} ${doneTerm}${tokens === undefined ? "" : ` ${tokens.input}:${tokens.output}`}`)
  }
  return { recorder, calls }
}
