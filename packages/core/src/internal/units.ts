import type { Pipeline } from "./pipeline.js"
import type { Partition } from "../Source.js"

/**
 * The units of work of a run: groups of indices that one lane processes in
 * order. Kept compact (one index per unit needs no array per unit), so a
 * run of millions of indices holds a few bytes per index.
 */
export interface Units {
  /** How many units there are. */
  readonly count: number
  /** How many indices they hold in all. */
  readonly size: number
  /** The indices of unit `k`, in the order they must be processed. */
  readonly indicesOf: (unit: number) => ReadonlyArray<number>
}

/** Units of the given groups, each processed in order. */
export const fromGroups = (groups: ReadonlyArray<ReadonlyArray<number>>): Units => ({
  count: groups.length,
  size: groups.reduce((sum, group) => sum + group.length, 0),
  indicesOf: (unit) => groups[unit]!
})

/** One unit per index. */
const singles = (indices: Int32Array): Units => ({
  count: indices.length,
  size: indices.length,
  indicesOf: (unit) => [indices[unit]!]
})

const checked = (who: string, partition: Partition, indices: ReadonlyArray<number>) => {
  const groups = partition(indices)
  const asked = new Set(indices)
  const seen = new Set<number>()
  for (const group of groups) {
    for (const index of group) {
      if (seen.has(index) || !asked.has(index)) {
        throw new Error(`the partition of ${who} is invalid: index ${index} is repeated or was not asked for`)
      }
      seen.add(index)
    }
  }
  if (seen.size !== indices.length) {
    throw new Error(`the partition of ${who} is invalid: it leaves out ${indices.length - seen.size} of the indices`)
  }
  return groups
}

/**
 * The units of work of a run: groups of indices that must be processed by
 * one worker, in order. Without partitions each index is its own unit; when
 * both the source and the sink partition, groups sharing an index merge.
 */
export const unitsOf = (pipeline: Pipeline<unknown, unknown, boolean>, pending: Int32Array): Units => {
  if (pipeline.source.partition === undefined && pipeline.sink.partition === undefined) return singles(pending)
  return fromGroups(partitionedUnits(pipeline, Array.from(pending)))
}

const partitionedUnits = (pipeline: Pipeline<unknown, unknown, boolean>, indices: ReadonlyArray<number>): ReadonlyArray<ReadonlyArray<number>> => {
  const partitions = [
    ...(pipeline.source.partition === undefined ? [] : [checked(pipeline.source.name, pipeline.source.partition, indices)]),
    ...(pipeline.sink.partition === undefined ? [] : [checked(pipeline.sink.name, pipeline.sink.partition, indices)])
  ]
  // Union-find over indices: every group joins its members.
  const parent = new Map<number, number>(indices.map((index) => [index, index]))
  const root = (index: number): number => {
    let at = index
    while (parent.get(at) !== at) at = parent.get(at)!
    parent.set(index, at)
    return at
  }
  for (const groups of partitions) {
    for (const group of groups) {
      for (const index of group.slice(1)) parent.set(root(index), root(group[0]!))
    }
  }
  // Order within a unit follows the first partition's order, then the request order.
  const order = new Map<number, number>()
  partitions[0]!.flat().forEach((index, position) => order.set(index, position))
  const units = new Map<number, Array<number>>()
  for (const index of indices) {
    const key = root(index)
    const unit = units.get(key) ?? []
    unit.push(index)
    units.set(key, unit)
  }
  return [...units.values()].map((unit) => unit.sort((a, b) => order.get(a)! - order.get(b)!))
}
