/**
 * Shard naming and the shard's index ranges: both templates give one file
 * per worker beside the base path, found again by the name pattern, and the
 * gathered file's name; a `{worker}` placeholder in a folder is refused when
 * the filter is built.
 */
import { Filter } from "@curator/core"
import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import * as IndexSet from "../src/IndexSet.js"
import { fromRanges, gatheredPathOf, shardNamePattern, shardPathOf, toRanges } from "../src/internal/stateful.js"

describe("stateful shards", () => {
  it("suffix and {worker} templates: shard paths, the pattern that finds them, the gathered path", () => {
    expect(shardPathOf("out/stats.json", "ab12")).toBe("out/stats_worker_ab12.json")
    expect(shardPathOf("/data/vocab", "ab12")).toBe("/data/vocab_worker_ab12")
    expect(shardPathOf("out/stats_{worker}.json", "ab12")).toBe("out/stats_ab12.json")
    expect(gatheredPathOf("out/stats.json")).toBe("out/stats.json")
    expect(gatheredPathOf("out/stats_{worker}.json")).toBe("out/stats.json")
    expect(gatheredPathOf("out/{worker}-stats.json")).toBe("out/stats.json")
    const suffix = shardNamePattern("out/stats.json")
    expect(suffix.exec("stats_worker_ab12.json")?.[1]).toBe("ab12")
    expect(suffix.test("stats.json")).toBe(false)
    expect(suffix.test("stats_worker_ab12.json.1f2e.tmp")).toBe(false)
    const template = shardNamePattern("out/stats_{worker}.json")
    expect(template.exec("stats_ab12.json")?.[1]).toBe("ab12")
    expect(template.test("stats.json")).toBe(false)
  })

  it("index ranges round-trip", () => {
    const indices = [0, 1, 2, 5, 7, 8, 100]
    expect(toRanges(indices)).toEqual([[0, 2], [5, 5], [7, 8], [100, 100]])
    expect([...fromRanges(toRanges(IndexSet.fromIndices(indices)))]).toEqual(indices)
  })

  it("a {worker} placeholder in a folder is refused when the filter is built", () => {
    expect(() =>
      Filter.stateful({
        name: "Stats",
        path: "out/{worker}/stats.json",
        state: Schema.Number,
        initial: 0,
        step: (n: number, _: string) => n + 1,
        merge: (a, b) => a + b
      })
    ).toThrow(/file name/)
  })
})
