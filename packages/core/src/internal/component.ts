import type { Pipeable } from "effect"
import { pipeArguments } from "effect/Pipeable"
import { type Params, validateParams } from "../Provenance.js"

/** What every source, filter and sink shares: a type id, a name and validated params. */
export const makeComponent = <Id extends symbol, Fields extends object>(
  typeId: Id,
  name: string,
  params: unknown,
  fields: Fields
): Fields & { readonly [K in Id]: Id } & { readonly name: string; readonly params: Params } & Pipeable.Pipeable => {
  if (name.length === 0) throw new TypeError("A pipeline component needs a non-empty name")
  return {
    [typeId]: typeId,
    name,
    params: validateParams(name, params ?? {}),
    ...fields,
    pipe() {
      return pipeArguments(this, arguments)
    }
  }
}

export const hasTypeId = (typeId: symbol, u: unknown): boolean =>
  typeof u === "object" && u !== null && typeId in u
